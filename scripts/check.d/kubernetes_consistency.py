"""Cross-file checks of deploy/kubernetes that no schema can make (scripts/check-kubernetes).

Usage: kubernetes_consistency.py DEPLOY_DIR. Prints every problem, exits 1 if there is one.
"""
import os
import sys

import yaml

problems = []


def check(ok, msg):
    if not ok:
        problems.append(msg)


def docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def arg_after(args, flag):
    return args[args.index(flag) + 1] if flag in args else None


def main(deploy):
    kz = docs(os.path.join(deploy, "kustomization.yaml"))[0]
    ns = kz.get("namespace")
    check(ns, "kustomization.yaml: no namespace")
    objs = {}
    for r in kz.get("resources", []):
        p = os.path.join(deploy, r)
        check(os.path.isfile(p), f"kustomization.yaml: resource {r} does not exist")
        if os.path.isfile(p):
            for d in docs(p):
                objs[(d["kind"], d["metadata"]["name"])] = d
    check(("Namespace", ns) in objs, f"no Namespace {ns} among the resources")

    sts = objs.get(("StatefulSet", "sai3-agent"))
    job = objs.get(("Job", "sai3-controller"))
    if not sts or not job:
        problems.append("the resources need StatefulSet sai3-agent and Job sai3-controller")
        return
    svc = objs.get(("Service", sts["spec"]["serviceName"]))
    check(svc and svc["spec"].get("clusterIP") == "None", "the StatefulSet's serviceName must be a headless Service")
    agent = sts["spec"]["template"]["spec"]["containers"][0]
    ctl = job["spec"]["template"]["spec"]["containers"][0]

    # image: the kustomization's images[] must name what the containers use
    names = {i["name"] for i in kz.get("images", [])}
    for who, c in (("agent", agent), ("controller", ctl)):
        check(c["image"] in names, f"{who} image {c['image']!r} is not set by kustomization.yaml images")

    # agent count, DNS names, port
    count = {r["name"]: r["count"] for r in kz.get("replicas", [])}.get("sai3-agent")
    check(count is not None, "kustomization.yaml: replicas has no entry for sai3-agent")
    listen = arg_after(agent["args"], "--listen") or ""
    port = int(listen.rsplit(":", 1)[-1]) if ":" in listen else None
    check(svc and port in [p["port"] for p in svc["spec"]["ports"]], f"agent port {port} is not a port of the Service")
    work = docs(os.path.join(deploy, "workload.yaml"))[0]
    dist = work.get("distributed", {})
    frm = dist.get("agents_from")
    if frm is not None:
        want = f"{sts['spec']['serviceName']}.{ns}.svc.cluster.local"
        check(frm.get("dns") == want, f"workload.yaml agents_from.dns {frm.get('dns')!r} must be the headless Service {want!r}")
        check(frm.get("port", 7761) == port, f"workload.yaml agents_from.port {frm.get('port', 7761)} must be the agents' port {port}")
        check(frm.get("count") == count, f"workload.yaml agents_from.count {frm.get('count')} must be the StatefulSet's replicas {count}")
    else:
        addrs = [a["address"] for a in dist.get("agents", [])]
        want = [f"sai3-agent-{i}.{sts['spec']['serviceName']}.{ns}.svc.cluster.local:{port}" for i in range(count or 0)]
        check(addrs == want, f"workload.yaml agents {addrs} must be the StatefulSet's pods {want}")

    # generated ConfigMap and Secrets: names, keys and mount paths
    cms = {g["name"]: g for g in kz.get("configMapGenerator", [])}
    secrets = {g["name"]: g for g in kz.get("secretGenerator", [])}
    check("workload.yaml" in cms.get("sai3-workload", {}).get("files", []), "configMapGenerator sai3-workload must hold workload.yaml")

    def mounts(pod, c):
        vols = {v["name"]: v for v in pod["volumes"]}
        return {m["mountPath"]: vols[m["name"]] for m in c.get("volumeMounts", [])}

    for who, pod, c in (("agent", sts["spec"]["template"]["spec"], agent), ("controller", job["spec"]["template"]["spec"], ctl)):
        m = mounts(pod, c)
        for mp, v in m.items():
            if "secret" in v:
                check(v["secret"]["secretName"] in secrets, f"{who}: Secret {v['secret']['secretName']} is not generated")
            if "configMap" in v:
                check(v["configMap"]["name"] in cms, f"{who}: ConfigMap {v['configMap']['name']} is not generated")
        for e in c.get("envFrom", []):
            check(e["secretRef"]["name"] in secrets, f"{who}: envFrom Secret {e['secretRef']['name']} is not generated")
        token = arg_after(c["args"], "--token-file") if who == "agent" else dist.get("token_file")
        tdir, tkey = os.path.split(token or "")
        check(m.get(tdir, {}).get("secret", {}).get("secretName") == "sai3-token", f"{who}: token {token} is not in the mounted Secret sai3-token")
        keys = [lit.split("=", 1)[0] for lit in secrets.get("sai3-token", {}).get("literals", [])]
        check(tkey in keys, f"{who}: Secret sai3-token has no key {tkey!r}")
    cfg = arg_after(ctl["args"], "--config") or ""
    check(mounts(job["spec"]["template"]["spec"], ctl).get(os.path.dirname(cfg), {}).get("configMap", {}).get("name") == "sai3-workload",
          f"controller --config {cfg} is not in the mounted ConfigMap sai3-workload")
    results = arg_after(ctl["args"], "--results-dir")
    check(results in mounts(job["spec"]["template"]["spec"], ctl), f"controller --results-dir {results} is not a mounted volume")
    storage = [lit.split("=", 1)[0] for lit in secrets.get("sai3-storage", {}).get("literals", [])]
    check("AWS_ACCESS_KEY_ID" in storage and "AWS_SECRET_ACCESS_KEY" in storage, "Secret sai3-storage must carry AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")


if __name__ == "__main__":
    main(sys.argv[1])
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    sys.exit(1 if problems else 0)
