// Integration-test harness: upstream servers, stepgate processes, raw sockets, the curl and
// openssl CLIs, a throw-away PKI and Prometheus scraping. Node 18+ built-ins only.
//
// Every helper is bounded in time: nothing here waits forever. Everything that starts a
// server or a process returns a close()/stop() that the test must call (from after()).
// Processes still running when node exits are killed (SIGKILL) as a last resort.
//
// Environment: STEPGATE_BIN (the built binary), STEPGATE_SOURCE_DIR (the source tree).
//
// The helpers live in small modules next to this file; import everything from here.

export * from './util.mjs';
export * from './upstream.mjs';
export * from './config.mjs';
export * from './stepgate.mjs';
export * from './wire.mjs';
export * from './tools.mjs';
