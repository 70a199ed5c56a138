// The tables of malformed inputs of the unit tier (.aios/commands.json, tasks.json, aios.rules, aios.* settings),
// run again here so the reliability table reports them with the other properties.
import '../unit/core/execution/shellCommands.test';
import '../unit/tasks/taskDefinition.test';
import '../unit/core/rules/rules.test';
import '../unit/core/config.test';
