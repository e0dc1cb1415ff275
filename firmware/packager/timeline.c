#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "packager/packager.h"

int ob_pkg_timeline_init(struct ob_pkg_timeline *tl, uint32_t timescale, size_t capacity)
{
	memset(tl, 0, sizeof(*tl));
	if (timescale == 0 || capacity == 0)
		return OB_EINVAL;
	tl->segments = calloc(capacity, sizeof(*tl->segments));
	if (!tl->segments)
		return OB_ENOMEM;
	tl->timescale = timescale;
	tl->capacity = capacity;
	return 0;
}

void ob_pkg_timeline_free(struct ob_pkg_timeline *tl)
{
	free(tl->segments);
	memset(tl, 0, sizeof(*tl));
}

const struct ob_pkg_segment *ob_pkg_timeline_at(const struct ob_pkg_timeline *tl, size_t i)
{
	return &tl->segments[(tl->head + i) % tl->capacity];
}

double ob_pkg_timeline_seconds(const struct ob_pkg_timeline *tl, int64_t ticks)
{
	return (double)ticks / (double)tl->timescale;
}

int ob_pkg_timeline_add(struct ob_pkg_timeline *tl, const struct ob_pkg_segment *seg,
			struct ob_pkg_segment *dropped)
{
	int ret = 0;

	if (seg->duration <= 0 || seg->epoch_start > seg->start)
		return OB_EINVAL;
	if (tl->count > 0) {
		const struct ob_pkg_segment *newest = ob_pkg_timeline_at(tl, tl->count - 1);

		if (seg->number != newest->number + 1 || seg->start < newest->start + newest->duration ||
		    seg->epoch < newest->epoch ||
		    (seg->epoch == newest->epoch && seg->epoch_start != newest->epoch_start))
			return OB_EINVAL;
	}
	if (tl->count == tl->capacity) {
		if (dropped)
			*dropped = tl->segments[tl->head];
		tl->head = (tl->head + 1) % tl->capacity;
		tl->count--;
		ret = 1;
	}
	tl->segments[(tl->head + tl->count) % tl->capacity] = *seg;
	tl->count++;
	return ret;
}

size_t ob_pkg_timeline_window(const struct ob_pkg_timeline *tl, size_t max_segments,
			      double max_seconds)
{
	size_t first = tl->count;
	int64_t ticks = 0;

	while (first > 0) {
		const struct ob_pkg_segment *seg = ob_pkg_timeline_at(tl, first - 1);
		size_t listed = tl->count - first;

		if (listed > 0 && max_segments && listed >= max_segments)
			break;
		if (listed > 0 && max_seconds > 0 &&
		    ob_pkg_timeline_seconds(tl, ticks + seg->duration) > max_seconds)
			break;
		ticks += seg->duration;
		first--;
	}
	return first;
}

size_t ob_pkg_timeline_trim(struct ob_pkg_timeline *tl, double keep_seconds, uint64_t *removed,
			    size_t max_removed)
{
	size_t keep_from = ob_pkg_timeline_window(tl, 0, keep_seconds);
	size_t n = 0;

	while (n < keep_from && n < max_removed) {
		removed[n] = tl->segments[tl->head].number;
		tl->head = (tl->head + 1) % tl->capacity;
		tl->count--;
		n++;
	}
	return n;
}
