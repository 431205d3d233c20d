using Intake.Core.Ports;
using Intake.Sources;

namespace Intake.Engine.SourceKinds.Local;

/// <summary><c>source.kind: local</c>: a folder on this machine or a mounted share (<see cref="LocalDirectorySource"/>).</summary>
internal sealed class LocalKind : FileSourceKind<LocalDirectorySourceOptions>
{
    public override string Name => "local";

    public override string Reads => "a local folder";

    public override IFileSource CreateSource(LocalDirectorySourceOptions options, TimeProvider time) => new LocalDirectorySource(options, time);

    protected override LocalDirectorySourceOptions Read(SourceReading reading)
    {
        var src = reading.Source;
        var o = new LocalDirectorySourceOptions();

        // Required once a source block is written; without one the pipeline is already reported ("source: is required").
        o.Directory = reading.ResolvePath(src.String("path", required: src.Exists) ?? ".");
        o.Include = src.StringList("include")?.ToList() ?? o.Include;
        o.Exclude = src.StringList("exclude")?.ToList() ?? o.Exclude;
        o.IgnoreCase = src.Bool("ignore_case", o.IgnoreCase);
        o.StableFor = src.Duration("stable_for", o.StableFor);

        // Reading a local file has no connection to time out.
        reading.AcceptUnused("timeout");
        return o;
    }

    protected override string Location(LocalDirectorySourceOptions options) => options.Directory;
}
