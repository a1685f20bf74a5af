import { setGoalCommand } from "../set-goal.ts"

export default setGoalCommand("start", "START", "Starting")
