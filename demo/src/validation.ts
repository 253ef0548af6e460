/**
 * Validation of a submitted questionnaire. Every problem is reported at once, by field path
 * (`answers.q3`), so a client fixes its request in one round; the messages never echo the value
 * (it may be clinical data).
 * @module
 */
import { FORMS, type Submission } from './forms.js';

export type Validated = { ok: true; value: Submission } | { ok: false; fields: Record<string, string> };

const PATIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_SYMPTOMS = 20;
const MAX_SYMPTOM_LENGTH = 100;
const KNOWN = new Set(['patientId', 'formId', 'answers', 'symptoms']);

/** Checks a parsed JSON body against the submission schema and the form's items. */
export function validateSubmission(body: unknown): Validated {
  const fields: Record<string, string> = {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, fields: { body: 'must be a JSON object' } };
  }
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!KNOWN.has(k)) fields[k] = 'unknown field';

  if (typeof b.patientId !== 'string' || !PATIENT_ID.test(b.patientId)) {
    fields.patientId = 'required: 1 to 64 letters, digits, ".", "_" or "-"';
  }
  const form = typeof b.formId === 'string' ? FORMS.get(b.formId) : undefined;
  if (form === undefined) fields.formId = `required: one of ${[...FORMS.keys()].join(', ')}`;

  const answers: Record<string, number> = {};
  if (typeof b.answers !== 'object' || b.answers === null || Array.isArray(b.answers)) {
    fields.answers = 'required: an object of item answers';
  } else if (form !== undefined) {
    const a = b.answers as Record<string, unknown>;
    for (const item of form.items) {
      const v = a[item];
      if (v === undefined) fields[`answers.${item}`] = 'missing';
      else if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > form.max) {
        fields[`answers.${item}`] = `must be an integer from 0 to ${form.max}`;
      } else answers[item] = v as number;
    }
    for (const k of Object.keys(a)) if (!form.items.includes(k)) fields[`answers.${k}`] = `not an item of ${form.id}`;
  }

  const symptoms: string[] = [];
  if (b.symptoms !== undefined) {
    if (!Array.isArray(b.symptoms) || b.symptoms.length > MAX_SYMPTOMS) {
      fields.symptoms = `must be an array of at most ${MAX_SYMPTOMS} strings`;
    } else {
      b.symptoms.forEach((s: unknown, i) => {
        if (typeof s !== 'string' || s.length === 0 || s.length > MAX_SYMPTOM_LENGTH) {
          fields[`symptoms[${i}]`] = `must be a string of 1 to ${MAX_SYMPTOM_LENGTH} characters`;
        } else symptoms.push(s);
      });
    }
  }

  if (Object.keys(fields).length > 0) return { ok: false, fields };
  return {
    ok: true,
    value: { patientId: b.patientId as string, formId: (form as { id: string }).id, answers, symptoms },
  };
}
