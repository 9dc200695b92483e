import type { Command } from '../command.js';
import { rewardCommand } from './reward.js';
import { modelsCommand } from './models.js';
import { pretrainCommand } from './pretrain.js';
import { tasksCommand } from './tasks.js';
import { score } from './score.js';
import { sample } from './sample.js';
import { run } from './run.js';
import { runs } from './runs.js';
import { doctor } from './doctor.js';
import { demo } from './demo.js';
import { report } from './report.js';

// One line per subcommand; each lives in its own file beside this one.
export const commands: Command[] = [
  rewardCommand,
  modelsCommand,
  pretrainCommand,
  tasksCommand,
  score,
  sample,
  run,
  runs,
  doctor,
  demo,
  report,
];
