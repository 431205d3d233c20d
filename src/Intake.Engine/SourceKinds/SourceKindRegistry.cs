using Intake.Engine.Mail;
using Intake.Engine.SourceKinds.Database;
using Intake.Engine.SourceKinds.Ftp;
using Intake.Engine.SourceKinds.Http;
using Intake.Engine.SourceKinds.Local;
using Intake.Engine.SourceKinds.S3;
using Intake.Engine.SourceKinds.Sftp;

namespace Intake.Engine.SourceKinds;

/// <summary>The source kinds a configuration may name, found by their <see cref="SourceKind.Name"/>.</summary>
public sealed class SourceKindRegistry
{
    private readonly Dictionary<string, SourceKind> _byName;

    /// <exception cref="ArgumentException">Two kinds have the same name.</exception>
    public SourceKindRegistry(IEnumerable<SourceKind> kinds)
    {
        ArgumentNullException.ThrowIfNull(kinds);
        Kinds = kinds.ToList();
        _byName = new Dictionary<string, SourceKind>(StringComparer.Ordinal);
        foreach (var kind in Kinds)
        {
            if (!_byName.TryAdd(kind.Name, kind))
            {
                throw new ArgumentException($"two source kinds are named '{kind.Name}'", nameof(kinds));
            }
        }
    }

    /// <summary>
    /// The kinds Intake ships, in the order messages list them. A new kind is its folder under
    /// <c>SourceKinds/</c> plus one line here.
    /// </summary>
    public static SourceKindRegistry BuiltIn { get; } = new(
    [
        new LocalKind(),
        new FtpKind(),
        new SftpKind(),
        new S3Kind(),
        new HttpKind(),
        new DatabaseKind(),
        new MailKind(),
    ]);

    public IReadOnlyList<SourceKind> Kinds { get; }

    /// <summary>The kind named <paramref name="name"/>, or null.</summary>
    public SourceKind? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>These kinds and one more (an embedding host's own kind, a test's).</summary>
    public SourceKindRegistry With(SourceKind kind) => new([.. Kinds, kind]);
}
