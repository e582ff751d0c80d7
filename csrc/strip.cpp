// Comment stripping that reproduces CodeBLEU's text-level pass byte for byte
// (see strip.hpp). The Python branch mirrors the line loop of CPython 3.11's
// `tokenize` closely enough to know which tokens are comments and which strings
// the docstring heuristic drops, and re-renders the kept tokens the same way
// (whitespace between tokens becomes spaces, INDENT keeps its literal text,
// backslash-newline continuations disappear).
#include "strip.hpp"

#include <cctype>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

namespace ppocoder {
namespace {

bool is_word_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

// Per byte, for the Python pass's plain-line fast path: 0 = needs the tokenizer
// (comment, quote, backslash, control byte), 3 = opening bracket, 1 = closing
// bracket, 2 = any other byte (copied as it is).
struct PlainBytes {
    unsigned char v[256];
    constexpr PlainBytes() : v() {
        for (int b = 0; b < 256; ++b) v[b] = b < 0x20 || b == 0x7f ? 0 : 2;
        v[static_cast<unsigned char>('#')] = v[static_cast<unsigned char>('\'')] = 0;
        v[static_cast<unsigned char>('"')] = v[static_cast<unsigned char>('\\')] = 0;
        v[static_cast<unsigned char>('(')] = v[static_cast<unsigned char>('[')] = v[static_cast<unsigned char>('{')] = 3;
        v[static_cast<unsigned char>(')')] = v[static_cast<unsigned char>(']')] = v[static_cast<unsigned char>('}')] = 1;
    }
    unsigned char operator[](unsigned char b) const { return v[b]; }
};
constexpr PlainBytes kPlainByte;

// Length of a valid string prefix (r, b, u, f, br, rb, fr, rf in any case) at `p`
// followed by a quote, or -1.
int string_prefix_len(const std::string& s, size_t p) {
    size_t n = s.size();
    auto lower = [](char c) { return static_cast<char>(c | 0x20); };
    for (int len = 0; len <= 2; ++len) {
        if (p + len >= n) return -1;
        char q = s[p + len];
        if (q == '\'' || q == '"') {
            if (len == 0) return 0;
            char a = lower(s[p]);
            if (len == 1) return (a == 'r' || a == 'b' || a == 'u' || a == 'f') ? 1 : -1;
            char b = lower(s[p + 1]);
            bool ok = (a == 'b' && b == 'r') || (a == 'r' && b == 'b') || (a == 'f' && b == 'r') ||
                      (a == 'r' && b == 'f');
            return ok ? 2 : -1;
        }
        char c = lower(q);
        if (!(c == 'r' || c == 'b' || c == 'u' || c == 'f')) return -1;
    }
    return -1;
}

// Python's str.strip() whitespace, on UTF-8 bytes: true when [b, e) is blank.
bool is_blank_line(const char* b, const char* e) {
    const auto* p = reinterpret_cast<const unsigned char*>(b);
    const auto* end = reinterpret_cast<const unsigned char*>(e);
    while (p < end) {
        unsigned char c = *p;
        if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) { ++p; continue; }
        if (c == 0xc2 && p + 1 < end && (p[1] == 0x85 || p[1] == 0xa0)) { p += 2; continue; }
        if (c == 0xe1 && p + 2 < end && p[1] == 0x9a && p[2] == 0x80) { p += 3; continue; }
        if (c == 0xe2 && p + 2 < end) {
            unsigned c1 = p[1], c2 = p[2];
            bool ws = (c1 == 0x80 && (c2 <= 0x8a || c2 == 0xa8 || c2 == 0xa9 || c2 == 0xaf)) ||
                      (c1 == 0x81 && c2 == 0x9f);
            if (ws) { p += 3; continue; }
        }
        if (c == 0xe3 && p + 2 < end && p[1] == 0x80 && p[2] == 0x80) { p += 3; continue; }
        return false;
    }
    return true;
}

// "\n".join(line for line in text.split("\n") if line.strip()), in place.
std::string drop_blank_lines(std::string text) {
    size_t start = 0, w = 0;
    bool first = true;
    char* d = text.data();
    while (start <= text.size()) {
        size_t nl = text.find('\n', start);
        size_t end = nl == std::string::npos ? text.size() : nl;
        if (!is_blank_line(d + start, d + end)) {
            if (!first) d[w++] = '\n';
            std::memmove(d + w, d + start, end - start);  // w <= start: never overwrites unread text
            w += end - start;
            first = false;
        }
        if (nl == std::string::npos) break;
        start = nl + 1;
    }
    text.resize(w);
    return text;
}

std::string strip_clike(const std::string& s, bool* unbalanced) {
    std::string out;
    int64_t depth = 0;      // open brackets of any kind outside comments and literals
    bool underflow = false;
    out.reserve(s.size());
    size_t n = s.size(), pos = 0;
    bool block_unclosed = false;                 // no "*/" after some "/*": none later either
    size_t quote_fail[2] = {SIZE_MAX, SIZE_MAX};  // a failed '...' / "..." scan start
    while (pos < n) {
        char c = s[pos];
        if (c == '/' && pos + 1 < n && s[pos + 1] == '/') {
            size_t nl = s.find('\n', pos);
            out.push_back(' ');
            pos = nl == std::string::npos ? n : nl;
            continue;
        }
        if (c == '/' && pos + 1 < n && s[pos + 1] == '*' && !block_unclosed) {
            size_t close = s.find("*/", pos + 2);
            if (close != std::string::npos) {
                out.push_back(' ');
                pos = close + 2;
                continue;
            }
            block_unclosed = true;
        }
        if (c == '\'' || c == '"') {
            int k = c == '"';
            if (quote_fail[k] == SIZE_MAX || pos < quote_fail[k]) {
                size_t p = pos + 1;
                bool closed = false;
                while (p < n) {
                    if (s[p] == '\\') {
                        if (p + 1 >= n) break;
                        p += 2;
                    } else if (s[p] == c) {
                        closed = true;
                        break;
                    } else {
                        ++p;
                    }
                }
                if (closed) {
                    out.append(s, pos, p + 1 - pos);
                    pos = p + 1;
                    continue;
                }
                // Every later quote of this kind sits inside this failed scan, escaped,
                // and its own scan would retrace the same bytes: it fails too.
                quote_fail[k] = pos;
            }
        }
        if (c == '(' || c == '[' || c == '{') {
            ++depth;
        } else if (c == ')' || c == ']' || c == '}') {
            underflow |= --depth < 0;
        }
        out.push_back(c);
        ++pos;
    }
    if (unbalanced) *unbalanced = underflow || depth != 0;
    return drop_blank_lines(std::move(out));
}

// ---- Python: a re-implementation of the parts of tokenize that matter here ----

enum Tok { kOther, kIndent, kNewline, kNl, kDedent };

// What the start of a line asks of the line loop: go to the next line, lex the
// rest of this one as tokens, stop (end of input), or give up (tokenize raises).
enum class Step { kNextLine, kTokens, kEnd, kFail };

// How a string body ends on its line: at its closing quote(s), continued on the
// next line by a backslash-newline, or not at all.
enum class StrEnd { kClosed, kContinued, kUnterminated };

struct StrScan {
    StrEnd end;
    size_t pos;  // after the closing quote(s) when kClosed, else the line's end
};

// The body of a string from `p` to the end of its line [.., le): a backslash
// escapes the next byte (a newline too); `quote` (three of them when `triple`)
// closes it.
StrScan scan_string_body(const std::string& s, size_t p, size_t le, char quote, bool triple) {
    size_t last_escape = std::string::npos;
    while (p < le) {
        char c = s[p];
        if (c == '\\') {
            last_escape = p;
            p += 2;
            continue;
        }
        if (c == quote && (!triple || (p + 2 < le && s[p + 1] == c && s[p + 2] == c)))
            return {StrEnd::kClosed, p + (triple ? 3 : 1)};
        ++p;
    }
    bool continued = last_escape != std::string::npos && s[le - 1] == '\n' &&
                     (last_escape + 2 == le || (last_escape + 3 == le && s[le - 2] == '\r'));
    return {continued ? StrEnd::kContinued : StrEnd::kUnterminated, le};
}

struct PyStripper {
    const std::string& s;
    std::string out;
    int64_t last_line = -1;  // tokenize's last_lineno / last_col, in (line, byte column)
    int64_t last_col = 0;
    Tok prev = kIndent;
    std::vector<size_t> line_starts;
    std::vector<int64_t> indents{0};
    int64_t parenlev = 0;
    bool continued = false;  // the last line ended in backslash-newline
    // An open multi-line string: its start offset, quote, triple?, and whether it is
    // a single-quoted one continued by backslash-newline (tokenize's needcont).
    bool in_str = false;
    size_t str_start = 0;
    char str_quote = 0;
    bool str_triple = false, needcont = false;

    explicit PyStripper(const std::string& src) : s(src) {}

    // One token from byte offset a to b (line/col derived), rendered like CodeBLEU.
    void emit(size_t a, size_t b, bool keep) {
        int64_t sl = line_of(a), el = line_of(b);
        int64_t sc = static_cast<int64_t>(a - line_starts[sl]);
        int64_t ec = static_cast<int64_t>(b - line_starts[el]);
        if (sl > last_line) last_col = 0;
        if (sc > last_col) out.append(static_cast<size_t>(sc - last_col), ' ');
        if (keep) out.append(s, a, b - a);
        last_col = ec;
        last_line = el;
    }
    size_t line_hint = 0;  // the line of the last lookup
    int64_t line_of(size_t off) {
        // Offsets arrive in non-decreasing order except for multi-line strings:
        // step forward from the last answer (a line or two at most), and fall
        // back to a binary search when the offset lies before it.
        size_t h = line_hint, count = line_starts.size();
        if (line_starts[h] <= off) {
            while (h + 1 < count && line_starts[h + 1] <= off && h - line_hint < 8) ++h;
            if (h + 1 == count || line_starts[h + 1] > off) {
                line_hint = h;
                return static_cast<int64_t>(h);
            }
        }
        size_t lo = 0, hi = count;
        while (hi - lo > 1) {
            size_t mid = (lo + hi) / 2;
            if (line_starts[mid] <= off) lo = mid; else hi = mid;
        }
        line_hint = lo;
        return static_cast<int64_t>(lo);
    }
    // The end of a comment that starts at p: the line's '\r' or '\n', or its end.
    size_t comment_end(size_t p, size_t le) const {
        while (p < le && s[p] != '\r' && s[p] != '\n') ++p;
        return p;
    }

    bool run();
    Step resume_string(size_t ls, size_t le, size_t* pos);
    Step line_start(size_t ls, size_t le, size_t* pos);
    bool plain_rest(size_t pos, size_t le);
    size_t token(size_t start, size_t ls, size_t le);
    size_t string_token(size_t start, size_t ls, size_t le, int prefix_len);
    size_t number_end(size_t start, size_t le) const;
    void final_newline(size_t last_line_start, size_t last_line_end);
};

bool PyStripper::run() {
    size_t n = s.size();
    line_starts.push_back(0);
    for (const char* p = s.data(); (p = static_cast<const char*>(std::memchr(p, '\n', n - (p - s.data()))));)
        line_starts.push_back(static_cast<size_t>(++p - s.data()));
    size_t last_line_start = 0, last_line_end = 0;
    for (size_t ls = 0;;) {
        size_t le = ls;  // [ls, le) is the physical line, with its '\n'
        if (ls < n) {
            size_t nl = s.find('\n', ls);
            le = nl == std::string::npos ? n : nl + 1;
        }
        bool eof = ls >= n;
        if (!eof) { last_line_start = ls; last_line_end = le; }
        size_t pos = ls;
        Step step;
        if (in_str) {
            step = eof ? Step::kFail : resume_string(ls, le, &pos);  // EOF in multi-line string
        } else if (parenlev == 0 && !continued) {
            step = eof ? Step::kEnd : line_start(ls, le, &pos);
        } else {
            step = eof ? Step::kFail : Step::kTokens;  // EOF in multi-line statement
            continued = false;
        }
        if (step == Step::kFail) return false;
        if (step == Step::kEnd) break;
        // The usual line rest renders as itself; any other is lexed token by token.
        if (step == Step::kTokens && !plain_rest(pos, le)) {
            while (pos < le) {
                size_t start = pos;
                while (start < le && (s[start] == ' ' || s[start] == '\f' || s[start] == '\t')) ++start;
                if (start >= le) break;
                pos = token(start, ls, le);
            }
        }
        ls = le;
    }
    final_newline(last_line_start, last_line_end);
    return true;
}

// A line inside an open multi-line string: the string closes on it (then its
// rest is lexed), or a single-quoted one fails without a backslash-newline.
Step PyStripper::resume_string(size_t ls, size_t le, size_t* pos) {
    StrScan body = scan_string_body(s, ls, le, str_quote, str_triple);
    if (body.end == StrEnd::kClosed) {
        bool at_col0 = str_start == line_starts[static_cast<size_t>(line_of(str_start))];
        emit(str_start, body.pos, !(prev == kIndent || prev == kNewline || at_col0));
        prev = kOther;
        in_str = false;
        *pos = body.pos;
        return Step::kTokens;
    }
    bool ends_in_backslash_newline = (le - ls >= 2 && s[le - 1] == '\n' && s[le - 2] == '\\') ||
                                     (le - ls >= 3 && s[le - 1] == '\n' && s[le - 2] == '\r' && s[le - 3] == '\\');
    if (needcont && !ends_in_backslash_newline) {
        emit(str_start, le, true);  // ERRORTOKEN: kept verbatim
        prev = kOther;
        in_str = false;
    }
    return Step::kNextLine;
}

// The start of a logical line: its indentation (INDENT / DEDENT tokens), or the
// whole line when it is blank or only a comment (NL).
Step PyStripper::line_start(size_t ls, size_t le, size_t* pos) {
    int64_t column = 0;
    size_t p = ls;
    while (p < le) {
        char c = s[p];
        if (c == ' ') column += 1;
        else if (c == '\t') column = (column / 8 + 1) * 8;
        else if (c == '\f') column = 0;
        else break;
        ++p;
    }
    if (p == le) return Step::kEnd;
    char c = s[p];
    if (c == '#' || c == '\r' || c == '\n') {
        if (c == '#') {
            size_t e = comment_end(p, le);
            emit(p, e, false);
            p = e;
        }
        emit(p, le, true);  // NL
        prev = kNl;
        return Step::kNextLine;
    }
    if (column > indents.back()) {
        indents.push_back(column);
        emit(ls, p, true);
        prev = kIndent;
    }
    while (column < indents.back()) {
        bool known = false;
        for (int64_t v : indents) known |= v == column;
        if (!known) return Step::kFail;  // IndentationError
        indents.pop_back();
        emit(p, p, true);
        prev = kDedent;
    }
    *pos = p;
    return Step::kTokens;
}

// The usual line rest, ending in '\n' and free of comments, strings, backslashes,
// tabs and other control bytes, renders as itself: its tokens with the spaces
// between them, then its NEWLINE (or NL). False (nothing done) for any other.
bool PyStripper::plain_rest(size_t pos, size_t le) {
    if (pos >= le || s[le - 1] != '\n') return false;
    int64_t depth = parenlev;
    size_t k = pos;
    for (; k + 1 < le; ++k) {
        auto b = static_cast<unsigned char>(s[k]);
        if (kPlainByte[b] == 0) return false;
        depth += kPlainByte[b] - 2;  // 3 opens a bracket, 1 closes one
    }
    parenlev = depth;
    emit(pos, le, true);
    prev = parenlev > 0 ? kNl : kNewline;
    return true;
}

// The token at `start` (not blank) of the line [ls, le): emitted; where the next begins.
size_t PyStripper::token(size_t start, size_t ls, size_t le) {
    char c = s[start];
    auto uc = static_cast<unsigned char>(c);
    if (c == '\\') {
        if (start + 1 < le && s[start + 1] == '\n') { continued = true; return start + 2; }
        if (start + 2 < le && s[start + 1] == '\r' && s[start + 2] == '\n') { continued = true; return start + 3; }
        emit(start, start + 1, true);  // ERRORTOKEN
        prev = kOther;
        return start + 1;
    }
    if (c == '#') {
        size_t e = comment_end(start, le);
        emit(start, e, false);
        prev = kOther;
        return e;
    }
    if (c == '\n' || (c == '\r' && start + 1 < le && s[start + 1] == '\n')) {
        emit(start, le, true);
        prev = parenlev > 0 ? kNl : kNewline;
        return le;
    }
    int pl = (std::isalpha(uc) || c == '\'' || c == '"') ? string_prefix_len(s, start) : -1;
    if (pl >= 0 && start + pl < le) return string_token(start, ls, le, pl);
    size_t e = start + 1;  // OP or ERRORTOKEN: one byte at a time is enough
    if (is_word_byte(uc) && !(c >= '0' && c <= '9')) {
        while (e < le && is_word_byte(static_cast<unsigned char>(s[e]))) ++e;
    } else if ((c >= '0' && c <= '9') || (c == '.' && start + 1 < le && s[start + 1] >= '0' && s[start + 1] <= '9')) {
        e = number_end(start, le);
    } else if (c == '(' || c == '[' || c == '{') {
        ++parenlev;
    } else if (c == ')' || c == ']' || c == '}') {
        --parenlev;
    }
    emit(start, e, true);
    prev = kOther;
    return e;
}

// A string with a prefix of `prefix_len` letters at `start`: a docstring-like one
// (first on its logical line) is dropped; one that goes on past the line opens a
// multi-line string; an unterminated one lexes as NAME + ERRORTOKEN.
size_t PyStripper::string_token(size_t start, size_t ls, size_t le, int prefix_len) {
    size_t q = start + prefix_len;
    char quote = s[q];
    bool triple = q + 2 < le && s[q + 1] == quote && s[q + 2] == quote;
    bool drop = prev == kIndent || prev == kNewline || start == ls;
    StrScan body = scan_string_body(s, q + (triple ? 3 : 1), le, quote, triple);
    if (body.end == StrEnd::kClosed) {
        emit(start, body.pos, !drop);
        prev = kOther;
        return body.pos;
    }
    if (triple || body.end == StrEnd::kContinued) {
        // prev/drop decided when the string closes, with `prev` as it is now
        in_str = true;
        str_start = start;
        str_quote = quote;
        str_triple = triple;
        needcont = !triple;
        return le;
    }
    size_t e = prefix_len > 0 ? q : start + 1;  // the prefix letters: a NAME; the quote: ERRORTOKEN
    emit(start, e, true);
    prev = kOther;
    return e;
}

// The end of a number that starts at `start` (a digit, or '.' then a digit).
size_t PyStripper::number_end(size_t start, size_t le) const {
    size_t e = start + 1;
    while (e < le) {
        char d = s[e];
        if (is_word_byte(static_cast<unsigned char>(d)) || d == '.') { ++e; continue; }
        if ((d == '+' || d == '-') && (s[e - 1] == 'e' || s[e - 1] == 'E') && e + 1 < le &&
            s[e + 1] >= '0' && s[e + 1] <= '9') { ++e; continue; }
        break;
    }
    return e;
}

// Implicit NEWLINE at EOF when the last line has no newline: pads trailing spaces.
void PyStripper::final_newline(size_t last_line_start, size_t last_line_end) {
    if (last_line_end > last_line_start && s[last_line_end - 1] != '\n' && s[last_line_end - 1] != '\r') {
        size_t a = last_line_start;
        while (a < last_line_end && is_blank_line(s.data() + a, s.data() + a + 1)) ++a;
        if (!(a < last_line_end && s[a] == '#')) emit(last_line_end, last_line_end, true);
    }
}

}  // namespace

std::string strip_comments(const std::string& source, StripStyle style, bool* unbalanced) {
    if (unbalanced) *unbalanced = false;
    switch (style) {
        case StripStyle::kNone: return source;
        case StripStyle::kCLike: return strip_clike(source, unbalanced);
        case StripStyle::kPython: {
            PyStripper p(source);
            if (!p.run()) {
                if (unbalanced) *unbalanced = true;
                return source;
            }
            return drop_blank_lines(std::move(p.out));
        }
    }
    return source;
}

}  // namespace ppocoder
