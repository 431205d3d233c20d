using Intake.Engine.Cubic;
using Intake.Engine.Mail;

namespace Intake.Engine.Slices;

/// <summary>The slices Intake ships. A new source design is its folder plus one line here.</summary>
public static class SliceRegistry
{
    public static IReadOnlyList<Slice> BuiltIn { get; } =
    [
        new CubicSlice(),
        new MailSlice(),
        new Modules.ModulesSlice(),
    ];
}
