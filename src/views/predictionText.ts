// The words the views show for what the learning predicts: the tree's Running and Queued rows and the
// progress notification ("~4 s left (p90 11 s)", "starts in ~12 s") and the status bar tooltip ("queue
// drains in ~30 s"). No vscode: the views call these and put the text where they want it. A command whose
// type the model does not know (or that waits behind one) gets undefined: nothing rather than a guess.
import type { Learning, QueueForecast } from '../core';

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
