using System.Data.Common;
using System.Formats.Tar;
using System.Globalization;
using Intake.Formats.Tests.Archives;
using Intake.Tests.Shared;
using Npgsql;

namespace Intake.Engine.Tests.Modules;

/// <summary>
/// An <see cref="EmbeddedProject"/> for parsing modules: pipelines from <c>Modules/Examples</c>, files dropped as the
/// mail <c>extract</c> step or an upload would leave them (a tar.gz expanded by <c>decompress</c>), and the warehouse's
/// tables read back, on SQLite or on PostgreSQL.
/// </summary>
internal sealed class ModuleProject : IAsyncDisposable
{
    private readonly string? _postgres;

    private ModuleProject(EmbeddedProject project, string? postgres)
    {
        Project = project;
        _postgres = postgres;
    }

    public EmbeddedProject Project { get; }

    public static ModuleProject Sqlite() => new(new EmbeddedProject("intake-modules-"), null);

    /// <summary>A project whose warehouse is a new PostgreSQL database (the catalog stays SQLite).</summary>
    public static async Task<ModuleProject> PostgresAsync()
    {
        var database = await TestPostgres.CreateDatabaseAsync("mod");
        return new(new EmbeddedProject("intake-modules-", warehouse: $"{{ kind: postgres, connection: \"{database}\" }}"), database);
    }

    /// <summary>Writes one of the example pipelines (<c>Modules/Examples/NAME.yaml</c>) into the project.</summary>
    public void Example(string name) =>
        Project.Pipeline(name, File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Modules", "Examples", name + ".yaml")));

    /// <summary>A tar.gz of (name, text) entries at <c>in/PATH</c> (folders created).</summary>
    public void DropTarGz(string path, params (string Name, string Text)[] entries)
    {
        var full = Project.In(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, TestArchives.Gzip(TestArchives.Tar([.. entries.Select(e => (TarEntry)TestArchives.TarFile(e.Name, e.Text))])));
    }

    /// <summary>
    /// Starts a <c>schedule: triggered</c> pipeline on the given source keys for a customer, as the upload trigger does,
    /// and drains every load through a worker; returns the loads.
    /// </summary>
    public async Task<IReadOnlyList<Load>> TriggerAsync(string pipeline, string customer, params string[] keys)
    {
        await using var runtime = await Project.OpenAsync();
        var run = await new Engine.Scheduling.PipelineRuns(runtime).RunAsync(runtime.Config.FindPipeline(pipeline)!, keys, "upload", customer, default);
        run.MissingKeys.ShouldBeEmpty();
        var worker = new Worker(runtime, Worker.DefaultSteps(runtime));
        while (await worker.RunOneAsync(null, default) is not null)
        {
        }

        return await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default);
    }

    /// <summary>Every row of <paramref name="sql"/>, each value as invariant text (NULL as null).</summary>
    public async Task<List<string?[]>> RowsAsync(string sql)
    {
        await using DbConnection connection = _postgres is null ? Project.OpenWarehouse() : new NpgsqlConnection(_postgres);
        if (connection.State != System.Data.ConnectionState.Open)
        {
            await connection.OpenAsync();
        }

        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string?[]>();
        while (await reader.ReadAsync())
        {
            rows.Add([.. Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? null : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture))]);
        }

        return rows;
    }

    public async Task<long> CountAsync(string table) => long.Parse((await RowsAsync($"select count(*) from {table}"))[0][0]!, CultureInfo.InvariantCulture);

    public ValueTask DisposeAsync() => Project.DisposeAsync();
}
