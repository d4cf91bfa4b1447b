"""Taking the per-ID lease, or answering from the status when waiting for it is no use."""

from __future__ import annotations

from .calls import Calls
from .command import StartCommand
from .outcomes import Outcome, Unavailable, answer_for
from .ports import Lease
from .settings import ConflictPolicy
from .status import Observed
from .timing import Deadline, backoff_delays


async def answer_without_lock(
    calls: Calls, command: StartCommand, observed: Observed, deadline: Deadline
) -> Outcome | None:
    """The answer a status read gives without the lock: a replay for a keyed request (whose first send may
    be under way elsewhere), the policy's answer for any other."""
    if command.idempotency is not None:
        return await calls.replay(command, observed, deadline)
    return answer_for(calls.decide(observed), observed)


def may_answer_while_waiting(calls: Calls, command: StartCommand) -> bool:
    """Whether a status read during the wait can end it: never for a keyed request, whose replay needs the
    holder's record, nor under terminate-existing, which always needs the lock."""
    return command.idempotency is None and calls.settings.conflict_policy is not ConflictPolicy.TERMINATE_EXISTING


async def acquire(
    calls: Calls, command: StartCommand, observed: Observed, deadline: Deadline, wait: Deadline
) -> Lease | Outcome:
    """The lease, polled with backoff until `wait` is spent; else the answer the status gives."""
    delays = backoff_delays()
    keyed = command.idempotency is not None
    while True:
        lease = await calls.locks.try_acquire(
            calls.backend.task_hub,
            command.instance_id,
            calls.limit(deadline),
            blob_may_be_missing=not observed.exists,
        )
        if lease is not None:
            return lease
        if wait.remaining() <= 0:
            break
        await calls.clock.sleep(min(next(delays), wait.remaining()))
        if may_answer_while_waiting(calls, command):
            observed = await calls.read(command, deadline)
            answer = answer_for(calls.decide(observed), observed)
            if answer is not None:
                return answer
    observed = await calls.read(command, deadline, with_input=keyed)
    answer = await answer_without_lock(calls, command, observed, deadline)
    return answer or Unavailable("another request for this instance ID held the lock for the whole wait budget")
