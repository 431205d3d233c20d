using System.Globalization;
using Intake.Core.Errors;
using MimeKit;

namespace Intake.Engine.Mail;

/// <summary>
/// A first read of a message that keeps nothing of it: it refuses nesting past the limit before the parser builds the
/// tree, and notes each multipart whose closing boundary (<c>--boundary--</c>) never came. MimeKit's parser accepts
/// such a message with the parts it found (the last one runs to the end of the message), which is what the sender
/// meant in every case seen (a mailer cut off, a hand-made report script), but its tree does not say that the boundary
/// was missing, and the user must be told the message was not whole.
/// </summary>
internal sealed class MailStructureCheck : MimeReader
{
    // Enough to show what is wrong; a message made of thousands of unclosed parts must not make a manifest of warnings.
    private const int MaxWarnings = 20;

    private readonly string _messageName;
    private readonly int _maxDepth;
    private readonly Stack<Container> _open = new();
    private readonly List<string> _warnings = [];
    private int _missing;

    private MailStructureCheck(ParserOptions options, Stream stream, string messageName, int maxDepth)
        : base(options, stream)
    {
        _messageName = messageName;
        _maxDepth = maxDepth;
    }

    /// <summary>Reads the whole message once; returns the warnings.</summary>
    /// <exception cref="IntakeException">Security: parts nested deeper than <paramref name="maxDepth"/>.</exception>
    public static IReadOnlyList<string> Run(ParserOptions options, Stream stream, string messageName, int maxDepth, CancellationToken cancellationToken)
    {
        var check = new MailStructureCheck(options, stream, messageName, maxDepth);
        check.ReadMessage(cancellationToken);
        if (check._missing > MaxWarnings)
        {
            check._warnings.Add($"{messageName}: {(check._missing - MaxWarnings).ToString(CultureInfo.InvariantCulture)} more parts have no closing boundary");
        }

        return check._warnings;
    }

    protected override void OnMultipartBegin(ContentType contentType, long beginOffset, int beginLineNumber, CancellationToken cancellationToken)
    {
        Enter(contentType, beginLineNumber, multipart: true);
    }

    protected override void OnMultipartEndBoundaryBegin(long beginOffset, int lineNumber, CancellationToken cancellationToken)
    {
        if (_open.TryPeek(out var top))
        {
            top.Closed = true;
        }
    }

    protected override void OnMultipartEnd(ContentType contentType, long beginOffset, int beginLineNumber, long headersEndOffset, long endOffset, int lines, CancellationToken cancellationToken)
    {
        var container = _open.Pop();
        if (!container.Closed && ++_missing <= MaxWarnings)
        {
            var boundary = contentType.Boundary is { } b ? $" ('--{MailExtractor.Printable(b)}--')" : "";
            _warnings.Add(
                $"{_messageName}: the {contentType.MimeType} part that begins on line {container.Line.ToString(CultureInfo.InvariantCulture)} has no closing boundary{boundary}; " +
                "its parts were read up to the end of the message, so the last of them may be cut short: check it against the sender's copy");
        }
    }

    protected override void OnMessagePartBegin(ContentType contentType, long beginOffset, int beginLineNumber, CancellationToken cancellationToken)
    {
        Enter(contentType, beginLineNumber, multipart: false);
    }

    protected override void OnMessagePartEnd(ContentType contentType, long beginOffset, int beginLineNumber, long headersEndOffset, long endOffset, int lines, CancellationToken cancellationToken)
    {
        _open.Pop();
    }

    private void Enter(ContentType contentType, int line, bool multipart)
    {
        _open.Push(new Container(line) { Closed = !multipart });
        if (_open.Count > _maxDepth)
        {
            throw IntakeException.Security(
                $"{_messageName}: the {contentType.MimeType} part on line {line.ToString(CultureInfo.InvariantCulture)} is nested {_open.Count.ToString(CultureInfo.InvariantCulture)} levels deep, " +
                $"past the limit of {_maxDepth.ToString(CultureInfo.InvariantCulture)} (extract.max_depth); nothing was extracted: " +
                "raise the limit if the sender's messages really nest that deep");
        }
    }

    private sealed class Container(int line)
    {
        public int Line { get; } = line;

        public bool Closed { get; set; }
    }
}
