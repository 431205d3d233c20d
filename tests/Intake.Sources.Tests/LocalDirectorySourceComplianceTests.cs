namespace Intake.Sources.Tests;

/// <summary>The file-source compliance suite on a local folder.</summary>
public sealed class LocalDirectorySourceComplianceTests : FileSourceComplianceTests
{
    protected override bool Removes => true;

    private readonly string _root = Directory.CreateTempSubdirectory("intake-source-compliance-").FullName;

    protected override Task WriteAsync(string key, byte[] content, DateTimeOffset modified)
    {
        var path = Path.Combine(_root, key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        File.SetLastWriteTimeUtc(path, modified.UtcDateTime);
        return Task.CompletedTask;
    }

    protected override Task DeleteAsync(string key)
    {
        File.Delete(Path.Combine(_root, key));
        return Task.CompletedTask;
    }

    protected override IFileSource CreateSource(IList<string>? include = null, IList<string>? exclude = null, TimeSpan? stableFor = null)
    {
        var options = new LocalDirectorySourceOptions { Directory = _root };
        options.Include = include ?? options.Include;
        options.Exclude = exclude ?? options.Exclude;
        options.StableFor = stableFor ?? options.StableFor;
        return new LocalDirectorySource(options, Clock);
    }

    protected override Task TearDownAsync()
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }
}
