// The README's "first look": validate a batch of questionnaire submissions, at most 8 at once,
// within 5 seconds; the first invalid one cancels the rest.
import { Group, background, sleep, withTimeout, type Context } from 'corral';

interface Submission {
  id: string;
  formId: string;
  answers: number[];
}

const submissions: Submission[] = Array.from({ length: 20 }, (_, i) => ({
  id: `S-${i}`,
  formId: i % 2 === 0 ? 'PHQ-9' : 'GAD-7',
  answers: [1, 2, 0, 3],
}));

async function validate(ctx: Context, s: Submission): Promise<void> {
  await sleep(ctx, 10); // the terminology service, simulated
  if (s.answers.some((a) => a < 0 || a > 3)) throw new Error(`${s.id}: answer out of range`);
}

const { ctx, cancel } = withTimeout(background(), 5_000);
try {
  await using group = new Group(ctx, { name: 'intake', limit: 8 });
  for (const submission of submissions) {
    group.go((ctx) => validate(ctx, submission), { name: 'validate', labels: { form: submission.formId } });
  }
  await group.wait(); // rejects with the first error; the others were told to stop
  console.log(`validated ${submissions.length} submissions`);
} finally {
  cancel();
}
