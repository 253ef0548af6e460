/**
 * The questionnaires the service accepts, and how a submission is cleaned and scored.
 *
 * Three validated patient-reported instruments, scored by their published rules: PHQ-9
 * (depression, nine items 0–3), GAD-7 (anxiety, seven items 0–3) and a pain numeric rating scale
 * (one item 0–10). Free-text symptoms are cleaned here (trimmed, case-folded, de-duplicated) and
 * coded by the terminology service; what it cannot code is flagged for a clinician, never dropped.
 * @module
 */

/** One questionnaire: its items, each an integer from 0 to `max`, and its severity bands. */
export interface Form {
  readonly id: string;
  readonly title: string;
  readonly items: readonly string[];
  readonly max: number;
  /** Upper bounds (inclusive) of each band, in order; the last covers the maximum total. */
  readonly bands: readonly (readonly [number, string])[];
}

const LIST: Form[] = [
  {
    id: 'phq-9',
    title: 'PHQ-9 (depression)',
    items: ['q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7', 'q8', 'q9'],
    max: 3,
    bands: [
      [4, 'minimal'],
      [9, 'mild'],
      [14, 'moderate'],
      [19, 'moderately severe'],
      [27, 'severe'],
    ],
  },
  {
    id: 'gad-7',
    title: 'GAD-7 (anxiety)',
    items: ['q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7'],
    max: 3,
    bands: [
      [4, 'minimal'],
      [9, 'mild'],
      [14, 'moderate'],
      [21, 'severe'],
    ],
  },
  {
    id: 'nrs-pain',
    title: 'Pain numeric rating scale',
    items: ['q1'],
    max: 10,
    bands: [
      [0, 'none'],
      [3, 'mild'],
      [6, 'moderate'],
      [10, 'severe'],
    ],
  },
];

/** The forms by id. */
export const FORMS: ReadonlyMap<string, Form> = new Map(LIST.map((f) => [f.id, f]));

/** A submission as stored: what the patient sent, validated. */
export interface Submission {
  patientId: string;
  formId: string;
  answers: Record<string, number>;
  symptoms: string[];
}

/** What the terminology service said about the symptoms: a code for each term it recognised. */
export interface Coding {
  /** The cleaned term and its code, or null when the terminology has no concept for it. */
  terms: { text: string; code: string | null }[];
}

/** The processed result stored with a submission. */
export interface ScoreResult {
  score: number;
  severity: string;
  /** Coded symptoms (codes only). */
  codes: string[];
  /** Reasons a clinician should look: never the patient's text. */
  flags: string[];
}

/** Cleans free-text symptoms: trimmed, inner whitespace collapsed, case-folded, duplicates removed, order kept. */
export function cleanSymptoms(symptoms: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const s of symptoms) {
    const t = s.trim().replace(/\s+/g, ' ').toLowerCase();
    if (t !== '') seen.add(t);
  }
  return [...seen];
}

/** Scores a validated submission, given the terminology's coding of its cleaned symptoms. */
export function score(sub: Submission, coding: Coding): ScoreResult {
  const form = FORMS.get(sub.formId);
  if (form === undefined) throw new RangeError(`score: unknown form ${JSON.stringify(sub.formId)}`);
  let total = 0;
  for (const item of form.items) total += sub.answers[item] ?? 0;
  let severity = form.bands[form.bands.length - 1]?.[1] ?? 'unknown';
  for (const [upTo, name] of form.bands) {
    if (total <= upTo) {
      severity = name;
      break;
    }
  }
  const flags: string[] = [];
  // PHQ-9 item 9 asks about thoughts of self-harm: any answer above "not at all" needs a person.
  if (form.id === 'phq-9' && (sub.answers.q9 ?? 0) > 0) flags.push('phq-9 item 9 positive: clinician review');
  const unknown = coding.terms.filter((t) => t.code === null).length;
  if (unknown > 0) flags.push(`${unknown} symptom term(s) not recognised by the terminology service`);
  const codes = coding.terms.flatMap((t) => (t.code === null ? [] : [t.code]));
  return { score: total, severity, codes, flags };
}
