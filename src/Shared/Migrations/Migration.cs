using System.Globalization;
using System.Reflection;

namespace Intake.Shared.Migrations;

/// <summary>One versioned SQL file, e.g. <c>0001_initial.sql</c>: version 1.</summary>
internal sealed record Migration(int Version, string Name, string Sql)
{
    /// <summary>
    /// The migrations embedded in this assembly for a dialect folder ("Sqlite", "Postgres"), in version order. Each
    /// project that links this file embeds its own <c>Migrations/&lt;Dialect&gt;/*.sql</c> under that logical name.
    /// </summary>
    /// <param name="dialect">The folder under <c>Migrations/</c>.</param>
    /// <param name="subject">What the migrations build, for messages: "catalog", "warehouse".</param>
    public static IReadOnlyList<Migration> Embedded(string dialect, string subject)
    {
        var assembly = typeof(Migration).Assembly;
        var prefix = $"Migrations/{dialect}/";
        var list = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith(prefix, StringComparison.Ordinal) || !resource.EndsWith(".sql", StringComparison.Ordinal))
            {
                continue;
            }

            var name = resource[prefix.Length..];
            list.Add(new Migration(ParseVersion(name, subject), name, Read(assembly, resource)));
        }

        list.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 1; i < list.Count; i++)
        {
            if (list[i].Version == list[i - 1].Version)
            {
                throw new InvalidOperationException($"two {subject} migrations have version {list[i].Version}: {list[i - 1].Name}, {list[i].Name}");
            }
        }

        return list.Count > 0 ? list : throw new InvalidOperationException($"no {subject} migrations embedded for {dialect}");
    }

    /// <summary>The digits before the first underscore: <c>0007_add_x.sql</c> is version 7.</summary>
    private static int ParseVersion(string fileName, string subject)
    {
        var underscore = fileName.IndexOf('_', StringComparison.Ordinal);
        return underscore > 0 && int.TryParse(fileName.AsSpan(0, underscore), NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0
            ? v
            : throw new InvalidOperationException($"{subject} migration '{fileName}' must be named <version>_<name>.sql, e.g. 0001_initial.sql");
    }

    private static string Read(Assembly assembly, string resource)
    {
        using var stream = assembly.GetManifestResourceStream(resource)!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
