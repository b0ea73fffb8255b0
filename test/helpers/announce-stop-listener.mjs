// Loaded with --import into a program under test: writes one line to stderr
// the moment the program starts listening for SIGTERM, so that a test can
// send the signal while the program is still loading, without guessing when.
const on = process.on.bind(process);
let announced = false;
process.on = (event, listener) => {
  const result = on(event, listener);
  if (event === 'SIGTERM' && !announced) {
    announced = true;
    process.stderr.write('test: listening for SIGTERM\n');
  }
  return result;
};
