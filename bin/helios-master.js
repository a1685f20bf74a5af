#!/usr/bin/env node
// `helios-master` (master/main.ts): a master on ZooKeeper. See bin/launch.js for what runs.
import { launch } from "./launch.js"

await launch("helios-master", "master/main.ts")
