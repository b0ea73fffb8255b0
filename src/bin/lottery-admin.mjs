#!/usr/bin/env node
// The entry point of lottery-admin (the program is lottery-admin.ts): plain JavaScript, so that
// an older Node says which Node it needs instead of failing to read TypeScript.
import { runProgram } from '../runtime.mjs';

await runProgram('lottery-admin');
