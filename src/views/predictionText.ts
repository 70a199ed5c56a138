// The words the views show for what the learning predicts: the tree's Running and Queued rows and the
// progress notification ("~4 s left (p90 11 s)", "starts in ~12 s") and the status bar tooltip ("queue
// drains in ~30 s"). No vscode: the views call these and put the text where they want it. A command whose
// type the model does not know (or that waits behind one) gets undefined: nothing rather than a guess.
// And how the predictions fared, for the DETAILED report ("p90 covered 91 % of 480 scored durations").
import type { Learning, LearningModel, PredictionAccuracy, QueueForecast } from '../core';
import { formatMs } from './tuningReport';

/** What these need of AiosContext.learning. */
export type ForecastSource = Pick<Learning, 'forecast'>;

/**
 * The prediction for one command in flight, in words: running, "~4 s left (p90 11 s)" (past its type's p90,
 * "longer than usual, ~2 s left (p90 9 s)"); queued or in its backoff delay, "starts in ~12 s"; undefined
 * for an unknown type or a command no longer in flight. A view that asks for several commands in one
 * refresh passes one `forecast` (learning.forecast() is O(commands in flight)).
 */
export function predictionText(learning: ForecastSource, commandId: string, forecast: QueueForecast = learning.forecast()): string | undefined {
  return forecast.commands.get(commandId)?.text;
}

/** "queue drains in ~30 s" while commands wait and every one ahead is of a known type; undefined otherwise. */
export function queueDrainText(learning: ForecastSource, forecast: QueueForecast = learning.forecast()): string | undefined {
  return forecast.drainText;
}

/** How the predictions fared, in words: the figures of PredictionAccuracy as a person reads them. */
export interface AccuracyText {
  /** "p90 covered 91 % of 480 scored durations; p50 covered 48 %; mean error 120 ms, typically off by 20 %". */
  durations: string;
  /** "mean error 1.20 s over 35 scored waits; they took 0.80 s longer than predicted on average". */
  waits: string;
  /** Per command type, since the start: "p90 covered 88 % of 120 scored durations; mean error 30 ms". */
  byType: Record<string, string>;
}

const percent = (share: number): string => `${Math.round(share * 100)} %`;
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** "480 scored durations", or over a full rolling window "the last 500 scored durations (1234 in all)". */
function scored(inWindow: number, total: number, word: string): string {
  return total > inWindow ? `the last ${plural(inWindow, `scored ${word}`)} (${total} in all)` : plural(inWindow, `scored ${word}`);
}

export function accuracyText(a: PredictionAccuracy): AccuracyText {
  const d = a.durations;
  const w = a.waits;
  const byType: Record<string, string> = {};
  for (const [type, t] of Object.entries(a.byType))
    byType[type] = `p90 covered ${percent(t.p90Coverage)} of ${plural(t.predictions, 'scored duration')}; mean error ${formatMs(t.meanAbsErrorMs)}`;
  return {
    durations:
      d.predictions === 0
        ? 'no duration predictions scored yet (a command type is predicted once it has run often enough)'
        : `p90 covered ${percent(d.p90Coverage)} of ${scored(d.predictions, d.total, 'duration')}; p50 covered ${percent(d.p50Coverage)}; ` +
          `mean error ${formatMs(d.meanAbsErrorMs)}, typically off by ${percent(d.medianRelativeError)}`,
    waits:
      w.predictions === 0
        ? 'no wait predictions scored yet'
        : `mean error ${formatMs(w.meanAbsErrorMs)} over ${scored(w.predictions, w.total, 'wait')}; ` +
          `they took ${formatMs(Math.abs(w.meanBiasMs))} ${w.meanBiasMs >= 0 ? 'longer' : 'less'} than predicted on average`,
    byType,
  };
}

/** The DETAILED report's `learning`: how the predictions fared, in words first, then the figures, and what is modelled. */
export function learningSection(model: Pick<LearningModel, 'report'>): {
  summary: AccuracyText;
  events: number;
  types: string[];
  accuracy: PredictionAccuracy;
} {
  const { events, models, accuracy } = model.report();
  return { summary: accuracyText(accuracy), events, types: models.map((m) => m.commandType), accuracy };
}
