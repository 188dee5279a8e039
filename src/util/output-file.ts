/**
 * Where a command writes an archive it was given a path for (`save -o`, `export -o`): a regular file
 * (or a new one) is written beside its place and renamed into it once complete, so a failure never
 * leaves half an archive under the name; anything else (a device such as /dev/null, a FIFO, a
 * symlink) is opened and written where it is, as docker does, and never replaced.
 */
import fs from 'node:fs';

export async function writeOutputFile(output: string, write: (out: fs.WriteStream) => Promise<void>): Promise<void> {
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(output);
  } catch {
    st = undefined;
  }
  if (st && !st.isFile()) {
    if (st.isDirectory()) throw Object.assign(new Error(`${output} is a directory`), { code: 'EISDIR' });
    await write(fs.createWriteStream(output));
    return;
  }
  const tmp = `${output}.tmp-${process.pid}`;
  try {
    await write(fs.createWriteStream(tmp));
    fs.renameSync(tmp, output);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
