/**
 * The UltraFeedback rating rubric (Cui et al., 2023), restricted as in the D2PO paper to the
 * instruction-following and helpfulness aspects, each rated 1 to 5, for two texts per request.
 * Changing any text here changes judgements: bump RUBRIC_VERSION so cached ones are not reused.
 */

export const RUBRIC_VERSION = 'ultrafeedback-v1';

export type Aspect = 'instruction-following' | 'helpfulness';
export const ASPECTS: readonly Aspect[] = ['instruction-following', 'helpfulness'];

export const SYSTEM_PROMPT = `Your role is to evaluate text quality based on given criteria.
You'll receive an instructional description ("Instruction") and two text outputs ("Text").
Understand and interpret instructions to evaluate effectively.
Provide annotations for each text with a rating and rationale.
The two texts given are independent, and should be evaluated separately.`;

const INSTRUCTION_FOLLOWING = `# Instruction Following Assessment

Evaluate alignment between output and intent. Assess understanding of task goal and restrictions.

**Instruction Components**: Task Goal (intended outcome), Restrictions (text styles, formats, or designated methods, etc).

**Scoring**: Rate outputs 1 to 5:
1. **Irrelevant**: No alignment.
2. **Partial Focus**: Addresses one aspect poorly.
3. **Partial Compliance**:
    - (1) Meets goal or restrictions, neglecting other.
    - (2) Acknowledges both but slight deviations.
4. **Almost There**: Near alignment, minor deviations.
5. **Comprehensive Compliance**: Fully aligns, meets all requirements.

## Format:

### Input
Instruction: [Clearly specify the task goal and restrictions]

Texts:
<text 1> [Text 1]
<text 2> [Text 2]

### Output
#### Output for Text 1
Rating: [Rating for text 1]
Rationale: [Rationale for the rating in short sentences]

#### Output for Text 2
Rating: [Rating]
Rationale: [Rationale]`;

const HELPFULNESS = `# Informativeness / Helpfulness Assessment

Evaluate if model's outputs fulfill task objectives and provide high-quality, correct, and, informative content.

Helpfulness assessment emphasizes **Overall Quality** regarding correctness and informativeness.

**Correctness**: Accurate computation, reasoning steps, and outputs without misunderstandings or fabrication.

**Informativeness**: Assign numeric identifier (or "None") from 1 to 3 for each type of informativeness:
1. **Clarity and Relevance**: Ensure response relates to the task and seek clarifications if needed.
2. **Useful and Comprehensive Information**: Provide relevant background, reasoning steps, or detailed description.
3. **Not Lengthy, No Repetition**: Avoid verbosity or recycling content.

Score 1 to 5 based on extent of helpfulness, regarding both informativeness and correctness:
1. **Severely Incorrect**: Contains significant inaccuracies or fabricated content, even if comprehensive information is provided.
2. **Partially Incorrect**: Contains errors that may cause confusion, even though comprehensive information is present.
3. **Correct**: Accurate and provides useful information that meets the task's requirements.
4. **Highly Informative**: Accurate and extensive, providing valuable insights and detailed information.
5. **Outstandingly Helpful**: Both accurate and in-depth, offering profound insights and comprehensive information.

## Format:

### Input
Instruction: [Specify task goal and restrictions]

Texts:
<text 1> [Text 1]
<text 2> [Text 2]

### Output
#### Output for Text 1
Type: [List of numeric identifiers (or "None" if no informativeness), separated by commas]
Rationale: [Rationale for identification in short sentences]
Rating: [Rating for text 1]
Rationale: [Rationale for the rating in short sentences]

#### Output for Text 2
Type: [List of numeric identifiers (or "None")]
Rationale: [Rationale]
Rating: [Rating]
Rationale: [Rationale]`;

const GUIDELINES: Record<Aspect, string> = {
  'instruction-following': INSTRUCTION_FOLLOWING,
  helpfulness: HELPFULNESS,
};

/**
 * The user message for one aspect. `texts` are in the order shown to the judge. A reference answer
 * (from a pair's meta) is an extension of ours; UltraFeedback's own rubric has none.
 */
export function rubricPrompt(aspect: Aspect, instruction: string, texts: [string, string], reference?: string): string {
  const ref = reference === undefined ? '' : `\nReference answer (for judging correctness; not one of the texts): ${reference}\n`;
  return `${GUIDELINES[aspect]}

---

## Annotation

### Input
Instruction: ${instruction}
${ref}
Texts:
<text 1> ${texts[0]}
<text 2> ${texts[1]}

### Output
`;
}
