import { setGoalCommand } from "../set-goal.ts"

export default setGoalCommand("stop", "STOP", "Stopping")
