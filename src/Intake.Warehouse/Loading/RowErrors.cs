using Intake.Core.Errors;
using Intake.Core.Ports;

namespace Intake.Warehouse.Loading;

/// <summary>
/// The schema errors raised while copying rows. Each names the source, the row and its line, the column,
/// the value and the target type, so an operator can open the file at the right place without re-running.
/// </summary>
internal static class RowErrors
{
    public static IntakeException CannotCast(IRowSource source, TargetColumn column, string value) =>
        IntakeException.Schema(
            $"{Where(source)}, column '{column.Name}': value '{ValueText.Truncate(value)}' cannot be cast to {ValueCaster.TypeWord(column.Type)}.");

    public static IntakeException NullNotAllowed(IRowSource source, TargetColumn column) =>
        IntakeException.Schema(
            $"{Where(source)}, column '{column.Name}': the value is empty but the column ({ValueCaster.TypeWord(column.Type)}) is not nullable.");

    public static IntakeException TooFewFields(IRowSource source, int needed) =>
        IntakeException.Format(
            $"{Where(source)}: the row has {source.FieldCount} fields but the header has at least {needed}.");

    private static string Where(IRowSource source) =>
        $"Source '{source.SourceName}' row {source.RowNumber} (line {source.LineNumber})";
}
