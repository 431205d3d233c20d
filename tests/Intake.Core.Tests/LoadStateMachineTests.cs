using Intake.Core.Errors;
using Intake.Core.Model;

namespace Intake.Core.Tests;

public class LoadStateMachineTests
{
    [Theory]
    [InlineData("ready", "ingesting")]
    [InlineData("ingesting", "ready_for_archiving")]
    [InlineData("ready_for_archiving", "archiving")]
    [InlineData("archiving", "archived")]
    [InlineData("ingesting", "ready_for_erroring")]
    [InlineData("ready_for_erroring", "erroring")]
    [InlineData("erroring", "errored")]
    [InlineData("errored", "ready")]
    [InlineData("ready", "held")]
    [InlineData("held", "ready")]
    public void CanTransition_AlongTheCubicPath_IsAllowed(string from, string to) =>
        LoadStateMachine.CanTransition(LoadStatusNames.Parse(from), LoadStatusNames.Parse(to)).ShouldBeTrue();

    [Theory]
    [InlineData("ready", "archived")]
    [InlineData("ready", "ready_for_archiving")]
    [InlineData("archived", "errored")]
    [InlineData("errored", "archived")]
    [InlineData("ingesting", "archived")]
    [InlineData("ready_for_archiving", "archived")]
    public void EnsureCanTransition_WhenSkippingAStatus_Throws(string from, string to) =>
        Should.Throw<InvalidOperationException>(() => LoadStateMachine.EnsureCanTransition(LoadStatusNames.Parse(from), LoadStatusNames.Parse(to)))
            .Message.ShouldContain($"'{from}' to '{to}'");

    [Fact]
    public void StatusWords_RoundTripEveryStatus()
    {
        foreach (var s in Enum.GetValues<LoadStatus>())
        {
            LoadStatusNames.Parse(s.ToWord()).ShouldBe(s);
        }

        LoadStatusNames.Words.ShouldBe(["ready", "ingesting", "ready_for_archiving", "archiving", "archived", "ready_for_erroring", "erroring", "errored", "held"], ignoreOrder: true);
    }

    [Fact]
    public void Parse_UnknownWord_NamesTheValidOnes() =>
        Should.Throw<ArgumentException>(() => LoadStatusNames.Parse("done")).Message.ShouldContain("ready_for_archiving");

    [Fact]
    public void WorkingAndWaitingStatuses_ArePaired()
    {
        foreach (var waiting in new[] { LoadStatus.Ready, LoadStatus.ReadyForArchiving, LoadStatus.ReadyForErroring })
        {
            var working = LoadStateMachine.WorkingStatusFor(waiting);
            LoadStateMachine.IsWorking(working).ShouldBeTrue();
            LoadStateMachine.WaitingStatusFor(working).ShouldBe(waiting);
            LoadStateMachine.CanTransition(waiting, working).ShouldBeTrue();
            LoadStateMachine.CanTransition(working, waiting).ShouldBeTrue();
        }
    }

    [Fact]
    public void IntakeException_IsTransientOnlyForTheTransientKind()
    {
        var e = IntakeException.Transient("connection reset");
        e.IsTransient.ShouldBeTrue();
        e.Message.ShouldBe("connection reset");
        IntakeException.Format("bad").IsTransient.ShouldBeFalse();
    }
}
