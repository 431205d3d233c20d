using System.Text;
using Intake.Core.Errors;
using Intake.Warehouse.Loading;

namespace Intake.Warehouse;

/// <summary>Quoting of identifiers for both dialects (both use the SQL standard's double quotes).</summary>
internal static class SqlIdentifier
{
    /// <summary>The column every loaded row carries, so a re-run can replace exactly its own rows.</summary>
    public const string LoadIdColumn = "_intake_load_id";

    /// <summary>Created by the migrations (Migrations/&lt;Dialect&gt;/0001_ledger.sql).</summary>
    public const string LedgerTable = "_intake_ledger";

    /// <summary>Per table and partition, the load whose rows it keeps (migration 0002).</summary>
    public const string PartitionsTable = "_intake_partitions";

    /// <summary>Rows of loads that newer loads replaced (migration 0002).</summary>
    public const string ReplacedTable = "_intake_replaced";

    /// <summary>Loads whose rows streams committed before the load's own transaction (migration 0003).</summary>
    public const string StreamedTable = "_intake_streamed";

    /// <summary>The warehouse's migrations applied, apart from the catalog's <c>intake_schema_migrations</c>: both may share a database.</summary>
    public const string MigrationsTable = "_intake_warehouse_migrations";

    // PostgreSQL truncates longer identifiers silently, which would make two header columns collide.
    private const int MaxBytes = 63;

    public static string Quote(string identifier) => string.Concat("\"", identifier.Replace("\"", "\"\"", StringComparison.Ordinal), "\"");

    /// <summary>Why a column name cannot be used, or null when it can.</summary>
    public static string? Problem(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "is empty";
        }

        if (name.Contains('\0', StringComparison.Ordinal))
        {
            return "contains a NUL character";
        }

        if (Encoding.UTF8.GetByteCount(name) > MaxBytes)
        {
            return $"is longer than {MaxBytes} bytes";
        }

        if (string.Equals(name, LoadIdColumn, StringComparison.OrdinalIgnoreCase))
        {
            return $"is reserved for Intake";
        }

        return null;
    }

    public static IntakeException Invalid(ErrorKind kind, string what, string name, string problem) =>
        new(kind, $"{what} '{ValueText.Truncate(name)}' {problem}.");
}
