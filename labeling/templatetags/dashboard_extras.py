from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

register = template.Library()


@register.filter
def duration_ms(ms) -> str:
    """Active time as people read it: 45 s, 3 min 20 s, 1 h 05 min."""
    if ms in (None, ""):
        return "—"
    s = int(round(int(ms) / 1000))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


@register.filter
def when(moment) -> str:
    """A timestamp as "Nov 18 03:23", with the year when it is not this year's (imported labels can be years old)."""
    if not moment:
        return "—"
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    same_year = local.year == timezone.localtime().year
    return date_format(local, "M j H:i" if same_year else "M j, Y H:i")


@register.filter
def has_markup(text) -> bool:
    """Whether text would render differently from how it reads raw (LaTeX or Markdown marks): the grader page
    shows an answer's source under its rendering only then."""
    return any(c in (text or "") for c in "\\^_{}$*<>&")


@register.filter
def elapsed(start, end) -> str:
    """The time from `start` to `end` (datetimes) as duration_ms writes it; an em dash if either is missing."""
    if not start or not end:
        return "—"
    return duration_ms(max(0, int((end - start).total_seconds() * 1000)))


@register.filter
def pct(share) -> str:
    """A report share ({n, hits, rate}) as '83% (10/12)', or an em dash when nothing was counted."""
    if not share or not share.get("n"):
        return "—"
    return f"{share['rate']:.0%} ({share['hits']}/{share['n']})"


@register.filter
def points(gap) -> str:
    """A difference of two rates in percentage points, signed."""
    if gap is None:
        return "—"
    return f"{gap * 100:+.1f} pts"
