// A client typed by the declarations openapi-typescript generates from schemas/openapi.yaml
// (build/client/wapd.d.ts). make client compiles it with tsc --noEmit --strict and never runs it: it
// holds when the document types the calls a portal makes (list the VMs of a subscription, create a VM,
// read a job, read an error envelope), and the @ts-expect-error lines hold only while the document
// still refuses what it must refuse.
import type { components, operations, paths } from "../../build/client/wapd";

type Vm = components["schemas"]["Vm"];
type VmCreate = components["schemas"]["VmCreate"];
type Job = components["schemas"]["Job"];
type ErrorEnvelope = components["schemas"]["Error"];
type ErrorCode = ErrorEnvelope["error"]["code"];
type VmPage = operations["listVms"]["responses"][200]["content"]["application/json"];
type CreateVmAnswer = operations["createVm"]["responses"][202]["content"]["application/json"];

// The tenant API's paths this client calls: a typo or a path the document drops fails the compile.
const vmsPath: keyof paths = "/v1/subscriptions/{sid}/vms";
const jobPath: keyof paths = "/v1/subscriptions/{sid}/jobs/{id}";

export class ApiError extends Error {
    readonly status: number;
    readonly code: ErrorCode;
    readonly target: string | null;

    constructor(status: number, body: ErrorEnvelope) {
        super(body.error.message);
        this.status = status;
        this.code = body.error.code;
        this.target = body.error.target;
    }
}

export class TenantClient {
    constructor(private readonly base: string, private readonly token: string) {}

    private async call<T>(method: string, path: string, body?: unknown): Promise<{ value: T; location: string | null }> {
        const headers: Record<string, string> = { Authorization: `Bearer ${this.token}` };
        if (body !== undefined) {
            headers["Content-Type"] = "application/json";
        }
        const res = await fetch(this.base + path, {
            method,
            headers,
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        if (!res.ok) {
            throw new ApiError(res.status, (await res.json()) as ErrorEnvelope);
        }
        return { value: (await res.json()) as T, location: res.headers.get("Location") };
    }

    /** Every VM of a subscription, following nextLink to the last page. */
    async listVms(sid: string): Promise<Vm[]> {
        const out: Vm[] = [];
        let next: string | undefined = vmsPath.replace("{sid}", encodeURIComponent(sid));
        while (next !== undefined) {
            const page: VmPage = (await this.call<VmPage>("GET", next)).value;
            out.push(...(page.value ?? []));
            next = page.nextLink === undefined ? undefined : new URL(page.nextLink).pathname + new URL(page.nextLink).search;
        }
        return out;
    }

    /** Creates a VM: the answer is the new VM, and Location names its job. */
    async createVm(sid: string, body: VmCreate): Promise<{ vm: CreateVmAnswer; jobPath: string }> {
        const { value, location } = await this.call<CreateVmAnswer>("POST", vmsPath.replace("{sid}", sid), body);
        if (location === null) {
            throw new Error("a 202 without Location");
        }
        return { vm: value, jobPath: location };
    }

    async job(sid: string, id: string): Promise<Job> {
        return (await this.call<Job>("GET", jobPath.replace("{sid}", sid).replace("{id}", id))).value;
    }
}

export async function example(client: TenantClient, sid: string, imageId: string): Promise<string> {
    const body: VmCreate = {
        name: "web01",
        imageId,
        size: "Small",
        dataDisks: [{ sizeGB: 20, caching: "None" }],
        networkId: null,
    };
    try {
        const { vm } = await client.createVm(sid, body);
        const vms = await client.listVms(sid);
        const running: string[] = vms.filter((v) => v.powerState === "running").map((v) => v.name);
        return `${vm.id} ${vm.provisioningState} ${running.join(",")}`;
    } catch (e) {
        if (e instanceof ApiError && e.code === "QuotaExceeded") {
            return `quota ${e.target ?? ""}`;
        }
        throw e;
    }
}

// What the document must keep refusing.
// @ts-expect-error a VM's size is a size's name, never a number
export const badSize: VmCreate = { name: "x", imageId: "00000000-0000-0000-0000-000000000000", size: 2 };
// @ts-expect-error a create body needs an image
export const noImage: VmCreate = { name: "x", size: "Small" };
// @ts-expect-error error codes are a closed list
export const badCode: ErrorCode = "NoSuchCode";
// @ts-expect-error caching is None, ReadOnly or ReadWrite
export const badCaching: VmCreate = { name: "x", imageId: "i", size: "Small", dataDisks: [{ sizeGB: 1, caching: "Sometimes" }] };
