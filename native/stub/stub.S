/* The stub: the only program the host kernel ever executes for the sandbox.
 *
 * Every workload process image starts as this stub (first start and every
 * execve): the host exec gives the task a fresh address space, and the sentry
 * replaces the image at the PTRACE_EVENT_EXEC stop, before any instruction
 * here runs.  The sentry uses the gadget to inject host syscalls into a
 * stopped task: set rip = rt_gadget, rax = number, r15 = 0, run to the int3.
 *
 * A batch (r15 != 0) runs several calls in one stop: rip = rt_batch, r12 = a
 * table of 64-byte entries (nr, six arguments, result), r13 = their count.
 * Each call is made by the same syscall instruction (the filter knows its
 * return address); its result is stored in the entry, and the first error or
 * the last entry ends at the int3.  A workload jumping here gets nothing it
 * could not have by jumping to the gadget: every call goes through its filter.
 * Linked at a fixed high address (see setup.py) so that it stays out of the
 * way of the images the loader maps.
 */
    .text
    .globl _start
_start:
    ud2                 /* never runs: the sentry sets rip before resuming */
    .globl rt_gadget
rt_gadget:
    syscall
    test %r15, %r15     /* a single call: stop */
    jz 2f
    mov %rax, 56(%r12)
    cmp $-4095, %rax    /* an error (-4095..-1): stop at it */
    jae 2f
    dec %r13
    jz 2f
    add $64, %r12
    jmp rt_batch
2:
    int3
    ud2

    .org _start + 0x40, 0xcc  /* rt_batch = _start + 0x40 (sentry.loader.loader.BATCH_ENTRY) */
    .globl rt_batch
rt_batch:
    mov (%r12), %rax
    mov 8(%r12), %rdi
    mov 16(%r12), %rsi
    mov 24(%r12), %rdx
    mov 32(%r12), %r10
    mov 40(%r12), %r8
    mov 48(%r12), %r9
    jmp rt_gadget
