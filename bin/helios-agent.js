#!/usr/bin/env node
// `helios-agent` (agent/main.ts): the agent of one host. See bin/launch.js for what runs.
import { launch } from "./launch.js"

await launch("helios-agent", "agent/main.ts")
