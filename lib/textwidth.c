#include "textwidth.h"

#include <string.h>

#include "normalize.h"

struct range {
    unsigned lo, hi;
};

/* Code points that take no column: combining marks of the scripts our users write, joiners,
 * direction marks, variation selectors. */
static const struct range zero_width[] = {
    {0x0300, 0x036F},   {0x0483, 0x0489},   {0x0591, 0x05BD}, {0x05BF, 0x05BF}, {0x05C1, 0x05C2},
    {0x05C4, 0x05C5},   {0x05C7, 0x05C7},   {0x0610, 0x061A}, {0x061C, 0x061C}, {0x064B, 0x065F},
    {0x0670, 0x0670},   {0x06D6, 0x06DC},   {0x06DF, 0x06E4}, {0x06E7, 0x06E8}, {0x06EA, 0x06ED},
    {0x0711, 0x0711},   {0x0730, 0x074A},   {0x08D3, 0x08E1}, {0x08E3, 0x0902}, {0x093C, 0x093C},
    {0x0941, 0x0948},   {0x094D, 0x094D},   {0x0E31, 0x0E31}, {0x0E34, 0x0E3A}, {0x0E47, 0x0E4E},
    {0x1AB0, 0x1AFF},   {0x1DC0, 0x1DFF},   {0x200B, 0x200F}, {0x202A, 0x202E}, {0x2060, 0x2064},
    {0x2066, 0x206F},   {0x20D0, 0x20FF},   {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF},
    {0x1F3FB, 0x1F3FF}, {0xE0000, 0xE0FFF},
};

/* Code points that take two columns: East Asian wide and fullwidth forms, and emoji. */
static const struct range double_width[] = {
    {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},
    {0x23F0, 0x23F0},   {0x23F3, 0x23F3},   {0x25FD, 0x25FE},   {0x2614, 0x2615},
    {0x2648, 0x2653},   {0x267F, 0x267F},   {0x2693, 0x2693},   {0x26A1, 0x26A1},
    {0x26AA, 0x26AB},   {0x26BD, 0x26BE},   {0x26C4, 0x26C5},   {0x26CE, 0x26CE},
    {0x26D4, 0x26D4},   {0x26EA, 0x26EA},   {0x26F2, 0x26F3},   {0x26F5, 0x26F5},
    {0x26FA, 0x26FA},   {0x26FD, 0x26FD},   {0x2705, 0x2705},   {0x270A, 0x270B},
    {0x2728, 0x2728},   {0x274C, 0x274C},   {0x274E, 0x274E},   {0x2753, 0x2755},
    {0x2757, 0x2757},   {0x2795, 0x2797},   {0x27B0, 0x27B0},   {0x27BF, 0x27BF},
    {0x2B1B, 0x2B1C},   {0x2B50, 0x2B50},   {0x2B55, 0x2B55},   {0x2E80, 0x303E},
    {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
    {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19},
    {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F004, 0x1F004},
    {0x1F0CF, 0x1F0CF}, {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F200, 0x1F251},
    {0x1F300, 0x1F64F}, {0x1F680, 0x1F6FF}, {0x1F7E0, 0x1F7EB}, {0x1F90C, 0x1F9FF},
    {0x1FA70, 0x1FAFF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

static int in_ranges(unsigned cp, const struct range *r, size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid].lo) {
            hi = mid;
        } else if (cp > r[mid].hi) {
            lo = mid + 1;
        } else {
            return 1;
        }
    }
    return 0;
}

int textwidth_cp(unsigned cp)
{
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) {
        return 0;
    }
    if (cp < 0x300) {
        return 1;
    }
    if (in_ranges(cp, zero_width, sizeof(zero_width) / sizeof(zero_width[0]))) {
        return 0;
    }
    if (in_ranges(cp, double_width, sizeof(double_width) / sizeof(double_width[0]))) {
        return 2;
    }
    return 1;
}

size_t textwidth_n(const char *s, size_t len)
{
    size_t cols = 0, i = 0;
    while (i < len) {
        unsigned cp;
        int l = normalize_utf8_decode((const unsigned char *)s + i, len - i, &cp);
        if (l < 0) {
            cols++;
            i++;
            continue;
        }
        cols += (size_t)textwidth_cp(cp);
        i += (size_t)l;
    }
    return cols;
}

size_t textwidth(const char *s)
{
    return textwidth_n(s, strlen(s));
}

size_t textwidth_fit(FILE *out, const char *s, size_t cols, int pad)
{
    size_t len = strlen(s);
    size_t total = textwidth_n(s, len);
    /* Room for the ellipsis when the text does not fit. */
    size_t limit = total <= cols ? cols : (cols > 0 ? cols - 1 : 0);
    size_t used = 0, i = 0;
    while (i < len) {
        unsigned cp;
        int l = normalize_utf8_decode((const unsigned char *)s + i, len - i, &cp);
        if (l < 0) {
            cp = 0xFFFD;
            l = 1;
        }
        int w = cp < 0x20 || cp == 0x7F ? 1 : textwidth_cp(cp);
        if (used + (size_t)w > limit) {
            break;
        }
        if (cp < 0x20 || cp == 0x7F) {
            fputc(' ', out);
        } else if (cp == 0xFFFD && l == 1) {
            fputs("\xEF\xBF\xBD", out);
        } else {
            fwrite(s + i, 1, (size_t)l, out);
        }
        used += (size_t)w;
        i += (size_t)l;
    }
    if (i < len && cols > 0) {
        fputs("\xE2\x80\xA6", out);
        used++;
    }
    while (pad && used < cols) {
        fputc(' ', out);
        used++;
    }
    return used;
}
