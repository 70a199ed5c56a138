// tasks.json entries of type `aios`: each malformed one gets one message naming tasks.json, the task and what is
// wrong; a good one none.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { taskDefinitionProblem } from '../../../src/tasks/taskDefinition';
import { record } from '../../reliability/table';

describe('tasks.json entries of type aios', () => {
  it('a table of malformed entries: one message each, naming the file, the task and the field', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{}, /needs "commandType", the AIOS command type to run, like "ECHO" or a shell command type \(got none\)$/],
      [{ commandType: '' }, /needs "commandType".*\(got ""\)$/],
      [{ commandType: 42 }, /needs "commandType".*\(got 42\)$/],
      [{ commandType: ['LINT'] }, /needs "commandType".*\(got \["LINT"\]\)$/],
      [
        { commandType: 'lint a file' },
        /: commandType must be 1-128 characters of letters, digits and _ \. : \/ -, starting with a letter or digit \(got "lint a file"\)$/,
      ],
      [{ commandType: 'X'.repeat(129) }, /: commandType must be 1-128 characters/],
      [{ commandType: 'LINT', priority: 'URGENT' }, /: priority must be HIGH, NORMAL or LOW \(got "URGENT"\)$/],
      [{ commandType: 'LINT', priority: 1 }, /: priority must be HIGH, NORMAL or LOW \(got number\)$/],
      [{ commandType: 'LINT', parameters: ['src/a.ts'] }, /: parameters must be an object of named values \(got an array\)$/],
      [{ commandType: 'LINT', parameters: 'src/a.ts' }, /: parameters must be an object of named values/],
    ];
    for (const [definition, re] of cases) {
      const problem = taskDefinitionProblem({ type: 'aios', ...definition }, 'lint a file');
      assert.ok(problem, `no message for ${JSON.stringify(definition)}`);
      assert.ok(problem.startsWith('tasks.json: the aios task "lint a file"'), problem);
      assert.match(problem, re);
    }
    record({
      property: 'malformed tasks.json entries of type aios',
      tried: `${cases.length} entries: commandType missing, empty, not a string, not a command type, too long; a bad priority (2); parameters not an object (2)`,
      held: `${cases.length} of ${cases.length}: one message naming tasks.json, the task and the field (in-host: logged once, shown in its terminal, nothing run)`,
    });
  });

  it('good entries have none, lowercase priorities included (as the pipeline takes them)', () => {
    for (const definition of [
      { commandType: 'ECHO' },
      { commandType: 'LINT', parameters: { path: 'src/a.ts' }, priority: 'HIGH' },
      { commandType: 'TERMINAL:make', priority: 'low', parameters: {} },
    ]) {
      assert.equal(taskDefinitionProblem({ type: 'aios', ...definition }, 'x'), undefined, JSON.stringify(definition));
    }
    assert.match(taskDefinitionProblem({ type: 'aios' }, undefined)!, /^tasks\.json: the aios task needs "commandType"/);
  });
});
