namespace Intake.Tests.Shared;

/// <summary>Where the repository and the built <c>intake</c> CLI are, for tests that run the real command.</summary>
public static class TestRepo
{
    /// <summary>The folder that holds Intake.sln, found upwards from the test assembly.</summary>
    public static string Root
    {
        get
        {
            var dir = AppContext.BaseDirectory;
            while (dir is not null && !File.Exists(Path.Combine(dir, "Intake.sln")))
            {
                dir = Path.GetDirectoryName(dir);
            }

            return dir ?? throw new InvalidOperationException("cannot find the repository root from " + AppContext.BaseDirectory);
        }
    }

    /// <summary>The CLI built in the same configuration (Debug or Release) as the tests.</summary>
    public static string CliDll
    {
        get
        {
            var config = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
            var path = Path.Combine(Root, "src", "Intake.Cli", "bin", config, "net10.0", "intake.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("build the CLI first", path);
        }
    }
}
