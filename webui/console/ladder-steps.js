// The bitrate step between neighbouring rungs, checked in the browser as the operator types,
// by the same rule the box applies on save (firmware/engine/ladder.c, check_order): each
// rung's video bitrate is OB_LADDER_STEP_MIN_PERCENT to OB_LADDER_STEP_MAX_PERCENT below the
// rung above (firmware/engine/engine.h), in whole kbit/s rounded down as the box rounds them,
// unless the ladder's check_steps is false; and a lower rung is never larger or dearer.
export const STEP_MIN_PERCENT = 30;
export const STEP_MAX_PERCENT = 45;

// The step from the rung above (upper) to the one below (lower), both {width, height,
// video_bitrate_kbps} as numbers; null when a bitrate is not a positive whole number yet.
// Answers {percent, lowest, highest, order, outside}: order is true when the rungs are not
// from highest to lowest; outside when the bitrate is outside lowest..highest kbit/s.
export function stepBetween(upper, lower) {
  const hi = upper.video_bitrate_kbps, lo = lower.video_bitrate_kbps;
  if (!Number.isInteger(hi) || !Number.isInteger(lo) || hi <= 0 || lo <= 0) return null;
  const lowest = Math.floor(hi * (100 - STEP_MAX_PERCENT) / 100);
  const highest = Math.floor(hi * (100 - STEP_MIN_PERCENT) / 100);
  const bigger = Number.isInteger(upper.width) && Number.isInteger(lower.width) &&
    Number.isInteger(upper.height) && Number.isInteger(lower.height) &&
    (lower.width > upper.width || lower.height > upper.height);
  return {
    percent: 100 * (hi - lo) / hi,
    lowest,
    highest,
    order: lo >= hi || bigger,
    outside: lo < lowest || lo > highest,
  };
}

// What to say about a step: {text, bad}. check: the ladder's check_steps; index: the lower
// rung's place (0-based), to name both rungs as people count them.
export function stepText(step, check, index) {
  if (!step) return { text: '', bad: false };
  const pct = `${step.percent.toFixed(1)} %`;
  const what = index ? `Rung ${index + 1} is ${pct} below rung ${index}` : `${pct} below the rung above`;
  if (step.order) {
    return { text: `${what}: not smaller and cheaper than the rung above; rungs go from the highest to the lowest, so reorder them.`, bad: true };
  }
  if (!check) return { text: `${what} (steps not checked).`, bad: false };
  if (step.outside) {
    return {
      text: `${what}: outside ${STEP_MIN_PERCENT}–${STEP_MAX_PERCENT} %; ` +
        `${step.lowest} to ${step.highest} kbit/s would pass.`,
      bad: true,
    };
  }
  return { text: `${what}.`, bad: false };
}
