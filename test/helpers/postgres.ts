/** The PostgreSQL server the store tests start (bench/pgServer.ts, shared with the p1 benchmark). */
export * from "../../bench/pgServer.js";
