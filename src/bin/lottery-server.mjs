#!/usr/bin/env node
// The entry point of lottery-server (the program is lottery-server.ts): plain JavaScript, so that
// an older Node says which Node it needs instead of failing to read TypeScript.
import { runProgram } from '../runtime.mjs';

await runProgram('lottery-server');
