#!/usr/bin/env node
// The `reg` command. The CLI lives in src/cli; this file only loads the compiled entry point.
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
