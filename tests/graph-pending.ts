// Conformance cases the planned runtime does not pass yet (see tests/graph-session.test.ts): an op
// that lands deletes its cases here. 0 cases.
export const PENDING: ReadonlySet<string> = new Set([]);
