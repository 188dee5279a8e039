/** Random container names in docker's adjective_noun style (our own word lists). */
import { randomBelow } from '../util/random.js';

const ADJECTIVES = [
  'brave', 'calm', 'clever', 'eager', 'fancy', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'merry', 'nimble',
  'proud', 'quiet', 'rapid', 'sharp', 'steady', 'swift', 'tidy', 'vivid', 'witty', 'zesty', 'bold', 'crisp',
  'daring', 'fervent', 'gallant', 'hardy', 'lively', 'mellow', 'noble', 'plucky', 'sunny', 'trusty', 'upbeat', 'wise',
];
const NOUNS = [
  'anchor', 'barge', 'beacon', 'buoy', 'cabin', 'canal', 'cargo', 'compass', 'dock', 'ferry', 'galley', 'harbor',
  'hull', 'jetty', 'keel', 'lantern', 'mast', 'marina', 'oar', 'pier', 'port', 'quay', 'rudder', 'sail', 'skiff',
  'stern', 'tide', 'tug', 'wharf', 'yawl', 'bollard', 'capstan', 'davit', 'hatch', 'mooring', 'pilot',
];

export function randomName(): string {
  return `${ADJECTIVES[randomBelow(ADJECTIVES.length)]}_${NOUNS[randomBelow(NOUNS.length)]}`;
}
