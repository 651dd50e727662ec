/**
 * Asks until `accepted(answer)` or `ms` have passed, and returns the last answer: for what another node learns
 * through NOTIFY, which arrives within milliseconds but not before the next line of a test.
 */
export async function eventually<T>(ask: () => Promise<T>, accepted: (answer: T) => boolean, ms = 1000): Promise<T> {
  const deadline = Date.now() + ms;
  let answer = await ask();
  while (!accepted(answer) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    answer = await ask();
  }
  return answer;
}
