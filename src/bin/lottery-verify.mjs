#!/usr/bin/env node
// The entry point of lottery-verify (the program is lottery-verify.ts): plain JavaScript, so that
// an older Node says which Node it needs instead of failing to read TypeScript.
import { runProgram } from '../runtime.mjs';

await runProgram('lottery-verify');
