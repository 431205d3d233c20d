using Intake.Core.Errors;
using Microsoft.Data.Sqlite;

namespace Intake.Warehouse.Sqlite;

/// <summary>Classifies what Microsoft.Data.Sqlite throws into Intake's error kinds, at the warehouse boundary.</summary>
internal static class SqliteErrors
{
    // Primary result codes (https://sqlite.org/rescode.html); extended codes keep them in the low byte.
    private const int Error = 1, Busy = 5, Locked = 6, ReadOnly = 8, IoError = 10, Corrupt = 11, Full = 13, CantOpen = 14,
        Protocol = 15, TooBig = 18, Constraint = 19, Mismatch = 20, Auth = 23, NotADatabase = 26;

    public static IntakeException? Translate(Exception exception, string warehouse, string? table)
    {
        var where = table is null ? $"Warehouse '{warehouse}'" : $"Warehouse '{warehouse}', table '{table}'";
        return exception switch
        {
            IntakeException or OperationCanceledException => null,
            SqliteException e => new IntakeException(KindOf(e.SqliteErrorCode & 0xFF), $"{where}: {e.Message}", e),
            IOException or UnauthorizedAccessException => new IntakeException(
                exception is IOException ? ErrorKind.Transient : ErrorKind.Config, $"{where}: {exception.Message}", exception),
            _ => null,
        };
    }

    private static ErrorKind KindOf(int primaryCode) => primaryCode switch
    {
        // Another writer holds the database, or the disk hiccupped or filled: worth retrying later.
        Busy or Locked or IoError or Full or Protocol => ErrorKind.Transient,
        Constraint or Mismatch or TooBig or Error => ErrorKind.Schema,
        ReadOnly or CantOpen or Auth or NotADatabase or Corrupt => ErrorKind.Config,
        _ => ErrorKind.Transient,
    };
}
