package grpcapi

import (
	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"

	"github.com/cove-env/cove/internal/daprerr"
)

// absent holds daprd's answers for the RPCs of building blocks cove does
// not run yet, by full method name: what daprd answers without a component
// of their kind (or, for actors and workflows, without a placement
// service). They replace the Unimplemented of the embedded server, so SDKs
// report what is missing. RPCs not listed stay Unimplemented.
var absent = func() map[string]func(req any) error {
	m := map[string]func(req any) error{}
	set := func(f func(req any) error, methods ...string) {
		for _, name := range methods {
			m[name] = f
		}
	}
	fixed := func(err func() *daprerr.Error) func(any) error {
		return func(any) error { return err() }
	}
	set(fixed(daprerr.NoPlacement),
		runtimev1pb.Dapr_RegisterActorTimer_FullMethodName, runtimev1pb.Dapr_UnregisterActorTimer_FullMethodName,
		runtimev1pb.Dapr_RegisterActorReminder_FullMethodName, runtimev1pb.Dapr_UnregisterActorReminder_FullMethodName,
		runtimev1pb.Dapr_UnregisterActorRemindersByType_FullMethodName, runtimev1pb.Dapr_ListActorReminders_FullMethodName,
		runtimev1pb.Dapr_GetActorState_FullMethodName, runtimev1pb.Dapr_GetActorReminder_FullMethodName,
		runtimev1pb.Dapr_ExecuteActorStateTransaction_FullMethodName, runtimev1pb.Dapr_InvokeActor_FullMethodName,
		runtimev1pb.Dapr_StartWorkflowAlpha1_FullMethodName, runtimev1pb.Dapr_GetWorkflowAlpha1_FullMethodName,
		runtimev1pb.Dapr_PurgeWorkflowAlpha1_FullMethodName, runtimev1pb.Dapr_TerminateWorkflowAlpha1_FullMethodName,
		runtimev1pb.Dapr_PauseWorkflowAlpha1_FullMethodName, runtimev1pb.Dapr_ResumeWorkflowAlpha1_FullMethodName,
		runtimev1pb.Dapr_RaiseEventWorkflowAlpha1_FullMethodName, runtimev1pb.Dapr_StartWorkflowBeta1_FullMethodName,
		runtimev1pb.Dapr_GetWorkflowBeta1_FullMethodName, runtimev1pb.Dapr_PurgeWorkflowBeta1_FullMethodName,
		runtimev1pb.Dapr_TerminateWorkflowBeta1_FullMethodName, runtimev1pb.Dapr_PauseWorkflowBeta1_FullMethodName,
		runtimev1pb.Dapr_ResumeWorkflowBeta1_FullMethodName, runtimev1pb.Dapr_RaiseEventWorkflowBeta1_FullMethodName)
	set(fixed(daprerr.NoCryptoProviders),
		runtimev1pb.Dapr_EncryptAlpha1_FullMethodName, runtimev1pb.Dapr_DecryptAlpha1_FullMethodName,
		runtimev1pb.Dapr_SubtleGetKeyAlpha1_FullMethodName, runtimev1pb.Dapr_SubtleEncryptAlpha1_FullMethodName,
		runtimev1pb.Dapr_SubtleDecryptAlpha1_FullMethodName, runtimev1pb.Dapr_SubtleWrapKeyAlpha1_FullMethodName,
		runtimev1pb.Dapr_SubtleUnwrapKeyAlpha1_FullMethodName, runtimev1pb.Dapr_SubtleSignAlpha1_FullMethodName,
		runtimev1pb.Dapr_SubtleVerifyAlpha1_FullMethodName)
	set(func(req any) error { return daprerr.NoConversation(componentName(req)) }, runtimev1pb.Dapr_ConverseAlpha1_FullMethodName, runtimev1pb.Dapr_ConverseAlpha2_FullMethodName)
	set(func(any) error { return daprerr.NoScheduler(daprerr.SchedulerScheduleJob, "schedule job") },
		runtimev1pb.Dapr_ScheduleJobAlpha1_FullMethodName, runtimev1pb.Dapr_ScheduleJob_FullMethodName)
	set(func(any) error { return daprerr.NoScheduler(daprerr.SchedulerGetJob, "get job") },
		runtimev1pb.Dapr_GetJobAlpha1_FullMethodName, runtimev1pb.Dapr_GetJob_FullMethodName)
	set(func(any) error { return daprerr.NoScheduler(daprerr.SchedulerDeleteJob, "delete job") },
		runtimev1pb.Dapr_DeleteJobAlpha1_FullMethodName, runtimev1pb.Dapr_DeleteJobsByPrefixAlpha1_FullMethodName,
		runtimev1pb.Dapr_DeleteJob_FullMethodName, runtimev1pb.Dapr_DeleteJobsByPrefix_FullMethodName)
	set(func(any) error { return daprerr.NoScheduler(daprerr.SchedulerListJobs, "list jobs") },
		runtimev1pb.Dapr_ListJobsAlpha1_FullMethodName, runtimev1pb.Dapr_ListJobs_FullMethodName)
	return m
}()

// componentName is the component a request names, "" when it names none.
func componentName(req any) string {
	switch r := req.(type) {
	case interface{ GetPubsubName() string }:
		return r.GetPubsubName()
	case interface{ GetName() string }:
		return r.GetName()
	}
	return ""
}
