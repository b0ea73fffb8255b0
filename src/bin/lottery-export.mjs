#!/usr/bin/env node
// The entry point of lottery-export (the program is lottery-export.ts): plain JavaScript, so that
// an older Node says which Node it needs instead of failing to read TypeScript.
import { runProgram } from '../runtime.mjs';

await runProgram('lottery-export');
