// The planted-secrets search of the unit tier (test/unit/export/secrets.test.ts), run again here so the
// reliability table reports it with the other properties.
import '../unit/export/secrets.test';
