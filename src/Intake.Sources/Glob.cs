using Intake.Core.Errors;

namespace Intake.Sources;

/// <summary>
/// A file-name pattern matched against a path relative to a source root, with '/' between folders.
/// Every source (local, FTP, SFTP, S3) filters with this one matcher, so a pattern means the same
/// thing wherever the files come from.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><c>*</c> matches any characters within one folder name (never '/'); <c>?</c> matches one.</item>
/// <item><c>[abc]</c>, <c>[a-z]</c>, <c>[!abc]</c> or <c>[^abc]</c> match one character of (or not of) a set.</item>
/// <item><c>**</c> as a whole segment matches any number of folders: <c>**/*.csv</c> matches <c>a.csv</c> and
/// <c>x/y/a.csv</c>. As the last segment it matches everything inside: <c>tmp/**</c> matches <c>tmp/a</c>, not <c>tmp</c>.</item>
/// <item><c>\</c> makes the next character literal.</item>
/// <item>The whole path must match: <c>*.csv</c> matches only files at the root; write <c>**/*.csv</c> for any depth.</item>
/// </list>
/// </remarks>
public sealed class Glob
{
    private readonly Segment[] _segments;
    private readonly bool _ignoreCase;

    private Glob(string pattern, Segment[] segments, bool ignoreCase)
    {
        Pattern = pattern;
        _segments = segments;
        _ignoreCase = ignoreCase;
    }

    /// <summary>The pattern as written.</summary>
    public string Pattern { get; }

    /// <summary>Parses a pattern; <paramref name="ignoreCase"/> suits sources on case-insensitive servers.</summary>
    /// <exception cref="IntakeException">Config, naming the pattern, when it cannot be parsed.</exception>
    public static Glob Parse(string pattern, bool ignoreCase = false)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        if (pattern.Length == 0)
        {
            throw IntakeException.Config("file pattern is empty");
        }

        if (pattern[0] == '/')
        {
            throw IntakeException.Config($"file pattern '{pattern}' starts with '/': patterns are relative to the source folder");
        }

        var segments = new List<Segment>();
        foreach (var text in pattern.Split('/'))
        {
            if (text.Length == 0)
            {
                throw IntakeException.Config($"file pattern '{pattern}' has an empty folder name ('//' or a trailing '/')");
            }

            segments.Add(text == "**" ? Segment.AnyFolders : new Segment(ParseSegment(pattern, text)));
        }

        return new Glob(pattern, [.. segments], ignoreCase);
    }

    /// <summary>True when the relative path (forward slashes, no leading '/') matches the whole pattern.</summary>
    public bool IsMatch(string relativePath)
    {
        ArgumentNullException.ThrowIfNull(relativePath);
        var names = relativePath.Split('/');

        // matches[p, n]: pattern segments from p match path names from n. Filled from the end, so each
        // pair is decided once: "**/**/x" against a deep path stays linear per '**' instead of exponential.
        var matches = new bool[_segments.Length + 1, names.Length + 1];
        matches[_segments.Length, names.Length] = true;
        for (var p = _segments.Length - 1; p >= 0; p--)
        {
            var isLast = p == _segments.Length - 1;
            for (var n = names.Length; n >= 0; n--)
            {
                if (_segments[p].IsAnyFolders)
                {
                    // Zero names (skip the '**') or one more name (stay on it). As the last segment, at least one.
                    var zero = !isLast && matches[p + 1, n];
                    var more = n < names.Length && (matches[p, n + 1] || (isLast && n + 1 == names.Length));
                    matches[p, n] = zero || more;
                }
                else
                {
                    matches[p, n] = n < names.Length && matches[p + 1, n + 1] && MatchName(_segments[p].Tokens, names[n]);
                }
            }
        }

        return matches[0, 0];
    }

    /// <inheritdoc />
    public override string ToString() => Pattern;

    private bool MatchName(Token[] tokens, string name)
    {
        // Classic wildcard matching: on a mismatch, let the last '*' swallow one more character and retry
        // from there. Linear in practice, O(name * pattern) at worst; no recursion.
        int t = 0, n = 0, starToken = -1, starName = 0;
        while (n < name.Length)
        {
            if (t < tokens.Length && tokens[t].Kind == TokenKind.Star)
            {
                starToken = t++;
                starName = n;
            }
            else if (t < tokens.Length && tokens[t].Matches(name[n], _ignoreCase))
            {
                t++;
                n++;
            }
            else if (starToken >= 0)
            {
                t = starToken + 1;
                n = ++starName;
            }
            else
            {
                return false;
            }
        }

        while (t < tokens.Length && tokens[t].Kind == TokenKind.Star)
        {
            t++;
        }

        return t == tokens.Length;
    }

    private static Token[] ParseSegment(string pattern, string text)
    {
        var tokens = new List<Token>();
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            switch (c)
            {
                case '*':
                    // "a**b" is not a folder wildcard; consecutive stars are one star.
                    if (tokens.Count == 0 || tokens[^1].Kind != TokenKind.Star)
                    {
                        tokens.Add(new Token(TokenKind.Star, default, null, false));
                    }

                    break;
                case '?':
                    tokens.Add(new Token(TokenKind.AnyChar, default, null, false));
                    break;
                case '\\':
                    if (i + 1 == text.Length)
                    {
                        throw IntakeException.Config($"file pattern '{pattern}' ends with an escape '\\' that escapes nothing");
                    }

                    tokens.Add(new Token(TokenKind.Literal, text[++i], null, false));
                    break;
                case '[':
                    i = ParseClass(pattern, text, i, tokens);
                    break;
                default:
                    tokens.Add(new Token(TokenKind.Literal, c, null, false));
                    break;
            }
        }

        return [.. tokens];
    }

    /// <summary>Parses <c>[...]</c> starting at <paramref name="open"/>; returns the index of the closing ']'.</summary>
    private static int ParseClass(string pattern, string text, int open, List<Token> tokens)
    {
        var i = open + 1;
        var negate = i < text.Length && text[i] is '!' or '^';
        if (negate)
        {
            i++;
        }

        var ranges = new List<(char From, char To)>();
        var first = true;
        while (i < text.Length && (text[i] != ']' || first))
        {
            // A ']' right after '[' (or '[!') is a member, as in POSIX.
            var from = text[i];
            if (from == '\\' && i + 1 < text.Length)
            {
                from = text[++i];
            }

            if (i + 2 < text.Length && text[i + 1] == '-' && text[i + 2] != ']')
            {
                var to = text[i + 2];
                if (to < from)
                {
                    throw IntakeException.Config($"file pattern '{pattern}' has a reversed range '{from}-{to}'");
                }

                ranges.Add((from, to));
                i += 3;
            }
            else
            {
                ranges.Add((from, from));
                i++;
            }

            first = false;
        }

        if (i >= text.Length)
        {
            throw IntakeException.Config($"file pattern '{pattern}' has a '[' that is never closed");
        }

        tokens.Add(new Token(TokenKind.Class, default, [.. ranges], negate));
        return i;
    }

    private enum TokenKind
    {
        Literal,
        AnyChar,
        Star,
        Class,
    }

    private readonly record struct Token(TokenKind Kind, char Literal, (char From, char To)[]? Ranges, bool Negate)
    {
        public bool Matches(char c, bool ignoreCase) => Kind switch
        {
            TokenKind.AnyChar => true,
            TokenKind.Literal => c == Literal || (ignoreCase && char.ToUpperInvariant(c) == char.ToUpperInvariant(Literal)),
            TokenKind.Class => InClass(c, ignoreCase) != Negate,
            _ => false,
        };

        private bool InClass(char c, bool ignoreCase)
        {
            foreach (var (from, to) in Ranges!)
            {
                if ((c >= from && c <= to) ||
                    (ignoreCase && (InRange(char.ToUpperInvariant(c), from, to) || InRange(char.ToLowerInvariant(c), from, to))))
                {
                    return true;
                }
            }

            return false;
        }

        private static bool InRange(char c, char from, char to) => c >= from && c <= to;
    }

    private sealed record Segment(Token[] Tokens)
    {
        public static readonly Segment AnyFolders = new([]) { IsAnyFolders = true };

        public bool IsAnyFolders { get; private init; }
    }
}
