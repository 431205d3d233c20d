using Intake.Core.Errors;

namespace Intake.Engine.Configuration;

/// <summary>One problem in the configuration, located by file, line and key.</summary>
public sealed record ConfigError(string File, int Line, string Key, string Reason)
{
    public override string ToString() => Line > 0 ? $"{File}:{Line}: {Key}: {Reason}" : $"{File}: {Key}: {Reason}";
}

/// <summary>Every problem found in the configuration at once, so a user fixes them in one pass.</summary>
public sealed class ConfigException : IntakeException
{
    public ConfigException(IReadOnlyList<ConfigError> errors)
        : base(ErrorKind.Config, Format(errors)) => Errors = errors;

    public ConfigException() : this([]) { }

    public ConfigException(string message) : this([new ConfigError("?", 0, "?", message)]) { }

    public ConfigException(string message, Exception innerException) : base(ErrorKind.Config, message, innerException) => Errors = [];

    public IReadOnlyList<ConfigError> Errors { get; }

    private static string Format(IReadOnlyList<ConfigError> errors) => errors.Count switch
    {
        0 => "invalid configuration",
        1 => $"invalid configuration: {errors[0]}",
        _ => $"invalid configuration ({errors.Count} problems):{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", errors),
    };
}
