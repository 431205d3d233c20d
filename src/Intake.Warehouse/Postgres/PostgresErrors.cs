using System.Net.Sockets;
using Intake.Core.Errors;
using Npgsql;

namespace Intake.Warehouse.Postgres;

/// <summary>Classifies what Npgsql throws into Intake's error kinds, once, at the warehouse boundary.</summary>
internal static class PostgresErrors
{
    /// <summary>The Intake error for <paramref name="exception"/>, or null to let it through unchanged (already classified, cancelled, or a bug).</summary>
    public static IntakeException? Translate(Exception exception, string warehouse, string? table)
    {
        var where = table is null ? $"Warehouse '{warehouse}'" : $"Warehouse '{warehouse}', table '{table}'";
        return exception switch
        {
            IntakeException or OperationCanceledException => null,
            PostgresException pg => new IntakeException(KindOf(pg), $"{where}: {pg.SqlState}: {pg.MessageText}", pg),
            // Npgsql computes IsTransient from the cause: a socket, I/O or timeout failure underneath.
            NpgsqlException npgsql => new IntakeException(
                npgsql.IsTransient || IsIo(npgsql.InnerException) ? ErrorKind.Transient : ErrorKind.Config,
                $"{where}: {npgsql.Message}", npgsql),
            _ when IsIo(exception) => IntakeException.Transient($"{where}: {exception.Message}", exception),
            _ => null,
        };
    }

    private static bool IsIo(Exception? e) => e is IOException or SocketException or TimeoutException;

    private static ErrorKind KindOf(PostgresException e)
    {
        // Serialisation failures, deadlocks, shutdowns, too many connections, out of resources.
        if (e.IsTransient)
        {
            return ErrorKind.Transient;
        }

        return e.SqlState switch
        {
            "21000" => ErrorKind.Integrity, // cardinality: one upsert key twice in one load
            "42501" => ErrorKind.Config, // insufficient privilege
            ['2', '2', ..] or ['2', '3', ..] or ['4', '2', ..] => ErrorKind.Schema, // data exception, constraint, undefined or mismatched objects
            ['2', '8', ..] or ['3', 'D', ..] or ['3', 'F', ..] or ['0', 'A', ..] => ErrorKind.Config, // authentication, missing database or schema, unsupported feature
            // Anything else (admin shutdown variants, internal errors) is worth a retry rather than a permanent failure.
            _ => ErrorKind.Transient,
        };
    }
}
