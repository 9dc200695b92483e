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
import { exportCommand } from './export.js';
import { report } from './report.js';
import { sweep } from './sweep.js';
import { serve } from './serve.js';

// One line per subcommand, in the order `d2po --help` lists them (the main job first, then the
// pieces under it); each lives in its own file beside this one.
export const commands: Command[] = [
  demo,
  run,
  sweep,
  runs,
  serve,
  report,
  tasksCommand,
  rewardCommand,
  modelsCommand,
  pretrainCommand,
  sample,
  score,
  exportCommand,
  doctor,
];
