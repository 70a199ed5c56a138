// The floor of the activation figures: an extension that does nothing, activated by the same event as AIOS
// Middleware in the same host, so the installed tier can say what of AIOS's activation is the host's own cost.
exports.activate = () => undefined;
